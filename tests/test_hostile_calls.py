"""Arguments and callbacks that run Python in the middle of a manager's call: ``__index__`` of a
size, ``__buffer__`` of an object a frame is compared with, a read function that keeps what it
is given; sizes at the edge of ``Py_ssize_t``; a subclass; the end of the stream. Each case runs
on both cores, in a fresh interpreter (a crash fails the case, not the run). The finding numbers
are those of issue 17.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from helpers import check_isolated
from streamframer._core._pure._storage import CONCURRENT


@pytest.mark.skipif(sys.version_info < (3, 12), reason="__buffer__ (PEP 688) is 3.12+")
def test_a_buffer_hook_cannot_consume_the_frame_it_is_compared_with(streamframer_core: str) -> None:
    """Finding 4: ``frame == obj`` where ``obj.__buffer__`` consumes the frame: the consume is
    refused (busy), the comparison reads the frame as it is, and the frame stays outstanding."""
    code = """
class Consumer:
    def __buffer__(self, flags):
        try:
            frame.consume()
            print("consumed")
        except FrameLifecycleError as exc:
            print(exc)
        return memoryview(b"abc")
m = BufferManager()
m.feed(b"abc\\nmore")
frame = m.next_frame(until_delim(b"\\n"))
print(frame == Consumer(), frame.consumed, len(m))
"""
    check_isolated(streamframer_core, code, f"{CONCURRENT}\nTrue False 8\n")


@pytest.mark.parametrize("size", [2**63 - 1, 2**70])
def test_reserve_with_no_limit_refuses_a_size_no_memory_holds(
    streamframer_core: str, size: int
) -> None:
    """Finding 6: ``reserve(2**63 - 1)`` with ``max_size=None`` is a ValueError naming the most
    a reservation may ask for (no wrapped-around size, no view larger than the buffer), the
    same on both cores; the manager goes on."""
    code = f"""
m = BufferManager(max_size=None)
m.feed(b"ab")
try:
    view = m.reserve({size})
    print("reserved", len(view))
except ValueError as exc:
    print(exc)
print(len(m), m.next_frame(until_delim(b"b")) == b"a")
"""
    most = sys.maxsize // 8
    expected = f"reserve() needs a size of at most {most} bytes (no buffer holds more), got {size}"
    check_isolated(streamframer_core, code, f"{expected}\n2 True\n")


def test_a_header_declaring_almost_2_63_bytes_is_waited_for(streamframer_core: str) -> None:
    """Finding 6: a length header declaring a frame of about 2**63 bytes, behind a consumed
    frame, with no limit: reads go on (the frame's end saturates instead of wrapping around),
    and the bytes read are kept."""
    code = """
rule = length_prefixed(8)
m = BufferManager(max_size=None)
m.feed((1).to_bytes(8, "big") + b"a" + (2**63 - 12).to_bytes(8, "big") + b"z" * 100)
m.next_frame(rule).consume()
print(m.next_frame(rule))
def read(view):
    view[:3] = b"xyz"
    return 3
print(m._fill(read), len(m), m.next_frame(rule))
"""
    check_isolated(streamframer_core, code, "None\n3 111 None\n")


def test_reserve_cannot_be_reentered_from_its_size(streamframer_core: str) -> None:
    """Finding 8: ``size.__index__`` calling ``reserve()`` is refused; no view or export leaks,
    so the buffer can still grow once the reservation is committed."""
    code = """
class Size:
    def __index__(self):
        try:
            print("reserved", len(m.reserve(10)))
        except FrameLifecycleError as exc:
            print(exc)
        return 10
m = BufferManager()
view = m.reserve(Size())
view[:3] = b"abc"
view.release()
m.commit(3)
m.feed(b"\\n" + b"x" * 100000)
frame = m.next_frame(until_delim(b"\\n"))
print(frame == b"abc", len(m))
"""
    check_isolated(streamframer_core, code, f"{CONCURRENT}\nTrue 100004\n")


def test_commit_cannot_be_reentered_from_its_count(streamframer_core: str) -> None:
    """Finding 8: ``nbytes.__index__`` calling ``commit()`` is refused (no SystemError); the
    outer commit keeps its bytes."""
    code = """
class Count:
    def __index__(self):
        try:
            m.commit(1)
            print("committed")
        except FrameLifecycleError as exc:
            print(exc)
        return 3
m = BufferManager()
view = m.reserve(10)
view[:3] = b"ab\\n"
view.release()
m.commit(Count())
frame = m.next_frame(until_delim(b"\\n"))
print(frame == b"ab", len(m))
"""
    check_isolated(streamframer_core, code, f"{CONCURRENT}\nTrue 3\n")


def test_a_read_function_that_keeps_its_buffer_cannot_rewrite_a_frame(
    streamframer_core: str,
) -> None:
    """Finding 10: ``_fill(kept.append)`` (a builtin that keeps what it is given): what it kept
    cannot be used later to write into a read-only frame."""
    code = """
kept = []
m = BufferManager()
print(m._fill(kept.append))
m.feed(b"abc\\n")
frame = m.next_frame(until_delim(b"\\n"))
try:
    with memoryview(kept[0]) as writer:
        writer[:3] = b"XYZ"
    print("written")
except (ValueError, FrameLifecycleError):
    print("refused")
print(frame.tobytes())
"""
    check_isolated(streamframer_core, code, "None\nrefused\nb'abc'\n")


def test_the_io_readers_fill_the_buffer_and_keep_nothing(
    streamframer_core: str, tmp_path: Path
) -> None:
    """``FileIO.readinto`` and ``BytesIO.readinto`` (C readers the compiled core trusts with
    its reusable exporter) read every byte; a subclass overriding ``readinto`` to keep the view
    is a read function like any other, and what it kept cannot write into a frame."""
    path = tmp_path / "stream"
    path.write_bytes(b"one\ntwo\n")
    code = f"""
import io
class Keeping(io.BytesIO):
    def readinto(self, view):
        self.kept = view
        return super().readinto(view)
lines = []
for source in (io.FileIO({str(path)!r}), io.BytesIO(b"one\\ntwo\\n"), Keeping(b"one\\ntwo\\n")):
    m = BufferManager()
    while m._fill(source.readinto):
        pass
    frame = m.next_frame(until_delim(b"\\n"))
    if isinstance(source, Keeping):
        try:
            source.kept[:3] = b"XYZ"
            print("written")
        except (ValueError, FrameLifecycleError):
            print("refused")
    lines.append(frame.tobytes())
    frame.consume()
    lines.append(m.next_frame(until_delim(b"\\n")).tobytes())
print(lines)
"""
    expected = "refused\n" + repr([b"one", b"two"] * 3) + "\n"
    check_isolated(streamframer_core, code, expected)


def test_fill_after_feed_eof_is_refused(streamframer_core: str) -> None:
    """Finding 12: a read after ``feed_eof()`` is refused before the read function runs."""
    code = """
m = BufferManager()
m.feed_eof()
try:
    m._fill(lambda view: print("read") or 0)
except FrameLifecycleError as exc:
    print(exc)
print(len(m))
"""
    check_isolated(streamframer_core, code, "a read after the end of the stream\n0\n")


def test_read_with_rule_honours_a_subclass_next_frame(streamframer_core: str) -> None:
    """Finding 12: ``read_with_rule``, ``iter_frames`` and ``iter_payloads`` on a subclass that
    overrides ``next_frame`` call the override, as the pure loops do."""
    code = """
import io
import streamframer
class Counting(BufferManager):
    calls = 0
    def next_frame(self, rule):
        Counting.calls += 1
        return super().next_frame(rule)
rule = until_delim(b"\\n")
frame = streamframer.read_with_rule(io.BytesIO(b"abc\\n"), Counting(), rule)
print(frame == b"abc", Counting.calls > 0)
Counting.calls = 0
frames = [f.tobytes() for f in streamframer.iter_frames(io.BytesIO(b"a\\nb\\n"), Counting(), rule)]
print(frames, Counting.calls > 0)
"""
    check_isolated(streamframer_core, code, "True True\n[b'a', b'b'] True\n")


def test_sizes_beyond_ssize_t_are_kept_as_given(streamframer_core: str) -> None:
    """Finding 12: ``max_size=2**70`` reads back as ``2**70`` (not clamped), in messages too;
    ``sys.maxsize`` is no limit (None) on both cores; ``read_size`` likewise."""
    code = """
import sys
from pathlib import Path
m = BufferManager(max_size=2**70, read_size=2**70)
print(m.max_size == 2**70, m.read_size == 2**70)
m.max_size = 2**64
print(m.max_size == 2**64, BufferManager(max_size=sys.maxsize).max_size)
m.feed(b"abc\\n")
print(m.next_frame(until_delim(b"\\n")) == b"abc")
"""
    check_isolated(streamframer_core, code, "True True\nTrue None\nTrue\n")


def test_a_kept_bytearray_cannot_be_resized_after_the_rule_returned(streamframer_core: str) -> None:
    """Findings 1-2: a rule keeps its bytearray; resizing it later, with no view alive, is
    BufferError on both cores (each holds an export of its bytearray from the first custom rule
    on), so the manager never works past its allocation and its frames hold the bytes fed."""
    code = """
kept = []
def keeping(buf, scan):
    kept.append(buf)
    return NeedMore(len(buf))
m = BufferManager()
m.feed(b"x" * 100000)
m.next_frame(keeping)
for change in (kept[0].clear, lambda: kept[0].extend(b"y"), lambda: kept[0].__delitem__(0)):
    try:
        change()
    except BufferError:
        print("BufferError")
m.feed(b"\\n")
frame = m.next_frame(until_delim(b"\\n"))
print(len(frame), frame == b"x" * 100000)
"""
    check_isolated(streamframer_core, code, "BufferError\n" * 3 + "100000 True\n")


def test_a_read_count_is_an_int_checked_before_it_is_kept(streamframer_core: str) -> None:
    """HOSTILE-FINDINGS H4: what ``read_into`` returns is converted with ``__index__`` under the
    busy mark (a re-entry is refused), a float is a TypeError and a count beyond the view a
    ValueError, with nothing kept; ``_fill`` returns the int."""
    code = """
class Count:
    def __index__(self):
        try:
            m.clear()
        except FrameLifecycleError as exc:
            print(exc)
        return 2
def writer(count):
    def read(view):
        view[:2] = b"a\\n"
        return count
    return read
m = BufferManager()
for count in (2.0, 2**70):
    try:
        m._fill(writer(count))
    except (TypeError, ValueError) as exc:
        print(type(exc).__name__, len(m))
got = m._fill(writer(Count()))
print(type(got).__name__, got, len(m), m.next_frame(until_delim(b"\\n")) == b"a")
"""
    check_isolated(
        streamframer_core, code, f"TypeError 0\nValueError 0\n{CONCURRENT}\nint 2 2 True\n"
    )


@pytest.mark.parametrize("result", ["FrameSpan(0, 2**70, 2**70)", "Skip(2**63)", "NeedMore(2**64)"])
def test_result_fields_beyond_ssize_t_are_a_broken_contract(
    streamframer_core: str, result: str
) -> None:
    """HOSTILE-FINDINGS H2: a rule's result with fields too large for any buffer is the rule
    contract's ValueError on both cores (not OverflowError); nothing changes."""
    code = f"""
def rule(buf, scan):
    return {result}
m = BufferManager()
m.feed(b"abc")
try:
    m.next_frame(rule)
except ValueError as exc:
    print(str(exc).startswith(f"{{rule!r}} returned {{rule(None, 0)!r}} for a buffer of 3 bytes"))
print(len(m))
"""
    check_isolated(streamframer_core, code, "True\n3\n")
