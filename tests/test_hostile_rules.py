"""A custom rule that breaks the contract in plain Python: it keeps or resizes the bytearray it
is given, returns results whose fields run Python code, compares itself by running Python, or
returns a malformed result. Each case runs on both cores, in a fresh interpreter (a crash fails
the case, not the run), and checks what the pure core does: an error, nothing changed, the
right frames. The finding numbers are those of issue 17.
"""

from __future__ import annotations

import pytest

from helpers import check_isolated
from streamframer._core._pure._storage import CONCURRENT

LINE_RULE = """
def line_rule(buf, scan):
    end = buf.find(b"\\n")
    return FrameSpan(0, end, end + 1) if end >= 0 else NeedMore(len(buf))
"""


def test_a_kept_bytearray_cannot_be_cleared_under_a_frame_view(streamframer_core: str) -> None:
    """Finding 1: a rule keeps its bytearray; clearing it while a frame's view is alive raises
    BufferError, and the view still reads the frame (it never points into freed memory)."""
    code = (
        LINE_RULE
        + """
kept = []
def keeping(buf, scan):
    kept.append(buf)
    return line_rule(buf, scan)
m = BufferManager()
m.feed(b"x" * 100000 + b"\\n")
frame = m.next_frame(keeping)
view = frame.view
try:
    kept[0].clear()
except BufferError:
    print("BufferError")
print(len(kept[0]), view[:3].tobytes(), frame == b"x" * 100000)
"""
    )
    check_isolated(streamframer_core, code, "BufferError\n100001 b'xxx' True\n")


def test_a_rule_truncating_its_bytearray_gets_buffer_error(streamframer_core: str) -> None:
    """Finding 2: ``del buf[8:]`` inside the rule raises BufferError there; the manager keeps
    every byte, and the next search never reads past the allocation."""
    code = """
def truncating(buf, scan):
    try:
        del buf[8:]
    except BufferError:
        print("BufferError in the rule")
    return NeedMore(len(buf))
m = BufferManager()
m.feed(b"x" * 100000)
print(m.next_frame(truncating), len(m))
m.feed(b"\\n")
frame = m.next_frame(until_delim(b"\\n"))
print(len(frame), frame == b"x" * 100000)
"""
    check_isolated(streamframer_core, code, "BufferError in the rule\nNone 100000\n100000 True\n")


def test_a_result_field_index_cannot_clear_the_manager(streamframer_core: str) -> None:
    """Finding 3: a FrameSpan field whose ``__index__`` calls ``m.clear()`` is refused (the
    manager is busy until the result is converted); the frame is the right one."""
    code = """
class Sneaky:
    def __init__(self, value):
        self.value = value
    def __index__(self):
        try:
            m.clear()
            print("cleared")
        except FrameLifecycleError as exc:
            print(exc)
        return self.value
def rule(buf, scan):
    end = buf.find(b"\\n")
    return FrameSpan(0, Sneaky(end), end + 1) if end >= 0 else NeedMore(len(buf))
m = BufferManager()
m.feed(b"x" * 100000 + b"\\nrest")
frame = m.next_frame(rule)
print(len(frame), frame == b"x" * 100000)
frame.consume()
print(len(m))
"""
    check_isolated(streamframer_core, code, f"{CONCURRENT}\n100000 True\n4\n")


def test_a_rule_eq_cannot_take_a_frame_during_a_rule_switch(streamframer_core: str) -> None:
    """Finding 7: a rule's ``__eq__``, called when the manager meets a new rule, cannot take a
    frame (refused: busy), so no frame is handed out twice."""
    code = (
        LINE_RULE
        + """
class Greedy:
    def __call__(self, buf, scan):
        return line_rule(buf, scan)
    def __eq__(self, other):
        if isinstance(other, Greedy):
            try:
                print("took", m.next_frame(until_delim(b"\\n")))
            except FrameLifecycleError as exc:
                print(exc)
        return False
    __hash__ = object.__hash__
m = BufferManager()
m.feed(b"one\\ntwo\\n")
m.next_frame(Greedy()).consume()
second = m.next_frame(Greedy())
print(second.tobytes(), second.consumed)
second.consume()
print(len(m))
"""
    )
    check_isolated(streamframer_core, code, f"{CONCURRENT}\nb'two' False\n0\n")


@pytest.mark.parametrize(
    ("made", "kind", "fields", "wanted"),
    [
        ("tuple.__new__(FrameSpan, ())", "FrameSpan", 0, 3),
        ("tuple.__new__(NeedMore, (0,))", "NeedMore", 1, 2),
        ("tuple.__new__(Skip, (1, 2))", "Skip", 2, 1),
    ],
)
def test_a_malformed_result_is_a_type_error(
    streamframer_core: str, made: str, kind: str, fields: int, wanted: int
) -> None:
    """Finding 9: a NeedMore, FrameSpan or Skip with the wrong number of fields (made by
    ``tuple.__new__``) is a TypeError naming it, never a SystemError; nothing changes."""
    code = f"""
def rule(buf, scan):
    return {made}
m = BufferManager()
m.feed(b"abc")
try:
    m.next_frame(rule)
except TypeError as exc:
    wanted = f"{{rule!r}} returned a malformed {kind}: {fields} fields instead of {wanted}"
    print(str(exc) == wanted)
print(len(m))
"""
    check_isolated(streamframer_core, code, "True\n3\n")


def test_reentry_from_a_rule_is_refused_in_the_pure_cores_words(streamframer_core: str) -> None:
    """Finding 12: a rule calling back into its manager gets FrameLifecycleError with the pure
    core's message on both cores, and nothing changes."""
    code = """
def rule(buf, scan):
    for call in (lambda: m.feed(b"x"), m.clear, lambda: m.discard(1), m.view, m.shrink):
        try:
            call()
        except FrameLifecycleError as exc:
            print(exc)
    return NeedMore(len(buf))
m = BufferManager()
m.feed(b"abc")
print(m.next_frame(rule), len(m))
"""
    check_isolated(streamframer_core, code, f"{CONCURRENT}\n" * 5 + "None 3\n")
