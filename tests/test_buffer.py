"""BufferManager: construction, bytes in (feed, reserve/commit), the end of the stream,
inspection and recovery.

Frames out (custom rule results, rule switching, drain, the overflow and EOF policies) are in
``test_buffer_frames.py``; limits and memory in ``test_buffer_limits.py``; linear time in
``test_buffer_linear.py``.
"""

from __future__ import annotations

from typing import Any

import numpy
import pytest

from helpers import CountingRule, buffered
from helpers import take as take_frame
from streamframer import (
    DEFAULT_MAX_SIZE,
    DEFAULT_READ_SIZE,
    BufferManager,
    FrameLifecycleError,
    FrameTooLarge,
    StreamClosed,
    until_delim,
    until_eot,
)

LINE = until_delim(b"\n")


def take(mgr: BufferManager, rule: Any = LINE) -> bytes | None:
    """The next frame's payload, consumed; None when no frame is complete."""
    return take_frame(mgr, rule)


# --------------------------------------------------------------------------------------------
# Construction


def test_defaults() -> None:
    mgr = BufferManager()
    assert mgr.max_size == DEFAULT_MAX_SIZE == 16 * 1024 * 1024
    assert mgr.read_size == DEFAULT_READ_SIZE
    assert len(mgr) == 0
    assert not mgr.at_eof
    assert buffered(mgr) == b""
    assert mgr.next_frame(LINE) is None


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_size": 0}, ValueError, "max_size must be positive"),
        ({"max_size": -1}, ValueError, "max_size must be positive"),
        ({"max_size": 1.5}, TypeError, "max_size must be an int or None, not float"),
        ({"max_size": True}, TypeError, "not bool"),
        ({"max_size": "10"}, TypeError, "not str"),
        ({"read_size": 0}, ValueError, "read_size must be positive"),
        ({"read_size": 1.0}, TypeError, "read_size must be an int"),
        ({"read_size": False}, TypeError, "not bool"),
        ({"on_overflow": "drop"}, ValueError, "on_overflow must be"),
        ({"on_eof": "ignore"}, ValueError, "on_eof must be"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        BufferManager(**kwargs)


def test_max_size_is_settable_and_checked() -> None:
    mgr = BufferManager(max_size=None)
    assert mgr.max_size is None
    mgr.max_size = 10
    assert mgr.max_size == 10
    with pytest.raises(ValueError, match="positive"):
        mgr.max_size = 0
    with pytest.raises(TypeError, match="not float"):
        mgr.max_size = 2.0  # type: ignore[assignment]
    assert mgr.max_size == 10


# --------------------------------------------------------------------------------------------
# feed()


def test_feed_accepts_bytes_like() -> None:
    mgr = BufferManager()
    mgr.feed(b"a")
    mgr.feed(bytearray(b"b"))
    mgr.feed(memoryview(b"xcx")[1:2])
    mgr.feed(b"")
    mgr.feed(b"\n")
    assert len(mgr) == 4
    assert take(mgr) == b"abc"


def test_feed_while_a_frame_is_outstanding_keeps_order() -> None:
    mgr = BufferManager()
    mgr.feed(b"a\nb")
    frame = mgr.next_frame(LINE)
    assert frame == b"a"
    mgr.feed(b"\nc")
    mgr.feed(bytearray(b"\n"))
    mgr.feed(memoryview(b"d\n"))
    assert len(mgr) == 8  # the outstanding frame, its delimiter and everything fed since
    assert frame == b"a"  # the frame did not move
    frame.consume()
    assert [take(mgr), take(mgr), take(mgr), take(mgr)] == [b"b", b"c", b"d", None]


def test_feed_while_view_alive_then_consume_loses_nothing() -> None:
    """a backlog flushed while BufferManager.view() is alive must not be dropped."""
    mgr = BufferManager()
    mgr.feed(b"a\n")
    view = mgr.view()
    frame = mgr.next_frame(LINE)
    assert frame is not None
    mgr.feed(b"b\n")
    try:
        frame.consume()
    except FrameLifecycleError:
        assert not frame.consumed, "consume() raised, yet the frame is gone"
        view.release()
        frame.consume()
    assert len(mgr) == 2
    with pytest.raises(FrameLifecycleError):  # the view still blocks appending the backlog
        mgr.next_frame(LINE)
    assert len(mgr) == 2
    view.release()
    assert take(mgr) == b"b"


@pytest.mark.parametrize("data", [5, "text", None, 1.5, [1, 2]])
def test_feed_rejects_non_bytes_whatever_the_state(data: Any) -> None:
    """feed(5) while a frame is outstanding must not append five NUL bytes."""
    idle = BufferManager()
    with pytest.raises(TypeError):
        idle.feed(data)
    assert len(idle) == 0
    busy = BufferManager()
    busy.feed(b"a\n")
    frame = busy.next_frame(LINE)
    assert frame is not None
    with pytest.raises(TypeError):
        busy.feed(data)
    frame.consume()
    assert len(busy) == 0


def test_feed_after_feed_eof_is_refused() -> None:
    mgr = BufferManager()
    mgr.feed(b"a\nb")
    mgr.feed_eof()
    with pytest.raises(FrameLifecycleError, match="after feed_eof"):
        mgr.feed(b"\n")
    assert take(mgr) == b"a"
    with pytest.raises(StreamClosed) as info:
        mgr.next_frame(LINE)
    assert info.value.partial == b"b"
    assert buffered(mgr) == b"b"  # the partial bytes stay in the manager too
    with pytest.raises(StreamClosed):  # and the end is reported again
        mgr.next_frame(LINE)


def test_reserve_after_feed_eof_is_refused() -> None:
    """the zero-copy way in must refuse bytes after the end, as feed() does."""
    mgr = BufferManager()
    mgr.feed(b"a")
    mgr.feed_eof()
    with pytest.raises(FrameLifecycleError, match=r"feed_eof|ended"):
        mgr.reserve()
    assert len(mgr) == 1
    with pytest.raises(StreamClosed) as info:
        mgr.next_frame(LINE)
    assert info.value.partial == b"a"


def test_clean_eof_reports_empty_partial() -> None:
    mgr = BufferManager()
    mgr.feed(b"a\n")
    mgr.feed_eof()
    assert take(mgr) == b"a"
    with pytest.raises(StreamClosed, match="cleanly") as info:
        mgr.next_frame(LINE)
    assert info.value.partial == b""
    assert isinstance(info.value, EOFError)


# --------------------------------------------------------------------------------------------
# reserve() / commit()


def test_reserve_commit_appends_exactly_what_was_written() -> None:
    mgr = BufferManager()
    mgr.feed(b"ab")
    view = mgr.reserve()
    assert len(view) >= 4096
    assert not view.readonly
    view[:4] = b"c\nde"
    mgr.commit(4)
    assert buffered(mgr) == b"abc\nde"
    assert take(mgr) == b"abc"
    mgr.reserve(100)
    mgr.commit(0)  # a failed read
    assert buffered(mgr) == b"de"


def test_reserve_size_is_capped_by_max_size() -> None:
    mgr = BufferManager(max_size=10)
    mgr.feed(b"1234")
    view = mgr.reserve(1000)
    assert len(view) == 6
    view[:] = b"567890"
    mgr.commit(6)
    with pytest.raises(FrameLifecycleError, match="full"):  # take the frames first ...
        mgr.reserve()
    with pytest.raises(FrameTooLarge) as info:  # ... and there is none that fits
        mgr.next_frame(LINE)
    assert (info.value.limit, info.value.size) == (10, 10)
    mgr.clear()
    assert len(mgr.reserve()) == 10


def test_reserve_commit_misuse() -> None:
    mgr = BufferManager()
    with pytest.raises(FrameLifecycleError, match="without reserve"):
        mgr.commit(0)
    view = mgr.reserve(16)
    with pytest.raises(FrameLifecycleError, match="commit"):
        mgr.reserve(16)
    with pytest.raises(ValueError, match="outside the 16 reserved bytes"):
        mgr.commit(17)
    with pytest.raises(ValueError, match="outside"):
        mgr.commit(-1)
    view[:2] = b"x\n"
    mgr.commit(2)  # the failed commits changed nothing
    with pytest.raises(FrameLifecycleError, match="without reserve"):
        mgr.commit(2)
    assert take(mgr) == b"x"


def test_commit_after_releasing_the_reserved_view() -> None:
    """``with mgr.reserve() as view:`` releases the view before commit()."""
    mgr = BufferManager()
    with mgr.reserve() as view:
        view[:2] = b"a\n"
    mgr.commit(2)
    assert len(mgr) == 2
    assert take(mgr) == b"a"


@pytest.mark.parametrize("hold", ["array on the view", "slice of the view"])
def test_commit_while_the_reserved_view_is_held(hold: str) -> None:
    """An event loop may release the buffer get_buffer() gave it only after buffer_updated()
    returns (uvloop holds it through the buffer protocol, as an array on it does): commit()
    keeps the bytes, frames come out, and the view pins the buffer until it is released."""
    mgr = BufferManager()
    mgr.feed(b"a")
    view = mgr.reserve(8)
    view[:4] = b"b\nc\n"
    held = numpy.frombuffer(view, numpy.uint8) if hold == "array on the view" else view[:1]
    mgr.commit(4)
    assert take(mgr) == b"ab"
    custom = CountingRule(LINE)  # is given the buffer trimmed: a move
    with pytest.raises(FrameLifecycleError, match="exported"):
        mgr.next_frame(custom)
    del held
    assert take(mgr, custom) == b"c"
    assert len(mgr) == 0


def test_reserve_while_a_frame_is_outstanding_is_refused() -> None:
    mgr = BufferManager()
    mgr.feed(b"a\nb")
    frame = mgr.next_frame(LINE)
    assert frame is not None
    with pytest.raises(FrameLifecycleError, match="outstanding"):
        mgr.reserve()
    assert frame == b"a"
    frame.consume()
    mgr.reserve(1)[0] = ord("\n")
    mgr.commit(1)
    assert take(mgr) == b"b"


def test_reading_between_reserve_and_commit_is_refused() -> None:
    """the reserved (zero-filled) bytes are not data: nothing may scan or count them."""
    mgr = BufferManager()
    mgr.feed(b"ab")
    view = mgr.reserve()
    assert len(mgr) == 2, "len() counts the reserved bytes"
    with pytest.raises(FrameLifecycleError):
        mgr.next_frame(LINE)
    with pytest.raises(FrameLifecycleError):
        mgr.drain(until_eot(0))
    view[:2] = b"c\n"
    mgr.commit(2)
    assert take(mgr) == b"abc"


def test_next_frame_during_reserve_never_frames_reserved_zeros() -> None:
    """B3 again, with a NUL terminator: the zero fill must never come out as frames."""
    mgr = BufferManager()
    mgr.reserve()
    try:
        frame = mgr.next_frame(until_eot(0))
    except FrameLifecycleError:
        frame = None
    assert frame is None
    mgr.commit(0)
    assert len(mgr) == 0


def test_feed_during_reserve_waits_for_commit() -> None:
    mgr = BufferManager()
    view = mgr.reserve(8)
    mgr.feed(b"2\n")
    view[:2] = b"1\n"
    mgr.commit(2)
    assert [take(mgr), take(mgr), take(mgr)] == [b"1", b"2", None]


# --------------------------------------------------------------------------------------------
# Inspection and recovery


def test_view_len_clear_discard() -> None:
    mgr = BufferManager()
    mgr.feed(b"abc\ndef")
    assert len(mgr) == 7
    view = mgr.view()
    assert view.readonly
    assert bytes(view) == b"abc\ndef"
    view.release()
    mgr.discard(2)
    assert buffered(mgr) == b"c\ndef"
    assert take(mgr) == b"c"
    mgr.clear()
    assert len(mgr) == 0
    mgr.feed(b"x\n")
    assert take(mgr) == b"x"


@pytest.mark.parametrize(("n", "error"), [(-1, ValueError), (4, ValueError), (1.0, TypeError)])
def test_discard_bad_argument_changes_nothing(n: Any, error: type) -> None:
    mgr = BufferManager()
    mgr.feed(b"abc")
    with pytest.raises(error):
        mgr.discard(n)
    assert buffered(mgr) == b"abc"


def test_discard_refused_while_view_alive_changes_nothing() -> None:
    """an error saying "release it, then try again" must not have discarded already."""
    mgr = BufferManager()
    mgr.feed(b"a\nbcdef")
    assert take(mgr) == b"a"
    view = mgr.view()
    try:
        mgr.discard(3)
    except FrameLifecycleError:
        assert len(mgr) == 5, "discard() raised but dropped the bytes anyway"
        view.release()
        mgr.discard(3)
    view.release()
    assert buffered(mgr) == b"ef"


def test_view_is_refused_while_the_buffer_is_lent_out() -> None:
    """view() is for an idle manager: while a frame or a reservation is outstanding, the frame
    (or the reserved view) is the view, and len() counts every unconsumed byte."""
    mgr = BufferManager()
    mgr.feed(b"a\n")
    frame = mgr.next_frame(LINE)
    assert frame is not None
    mgr.feed(b"b\n")
    assert len(mgr) == 4
    with pytest.raises(FrameLifecycleError, match="outstanding"):
        mgr.view()
    frame.consume()
    assert buffered(mgr) == b"b\n"
    mgr.reserve(10)
    with pytest.raises(FrameLifecycleError, match="commit"):
        mgr.view()
    assert len(mgr) == 2
    mgr.commit(0)
    assert buffered(mgr) == b"b\n"


def test_read_size_and_reserve_sizes_are_checked() -> None:
    mgr = BufferManager(read_size=16)
    with pytest.raises(ValueError, match="read_size must be positive"):
        mgr.read_size = 0
    with pytest.raises(TypeError, match="read_size must be an int"):
        mgr.read_size = 1.5  # type: ignore[assignment]
    assert mgr.read_size == 16
    with pytest.raises(ValueError, match="positive size"):
        mgr.reserve(0)
    assert len(mgr.reserve(4)) == 4
    mgr.commit(0)


def test_delimiter_rules_compare_by_value_and_say_how_they_were_built() -> None:
    assert until_delim(b"\n") == until_delim(bytearray(b"\n"))
    assert until_delim(b"\n") != until_delim(b"\n", strip=b"\r")
    assert hash(until_delim(b"\r\n")) == hash(until_delim(b"\r\n"))
    assert repr(until_delim(b"\n")) == "until_delim(b'\\n')"
    assert repr(until_eot(0x0A)) == "until_eot(0x0a)"
