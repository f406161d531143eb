"""Frame: its zero-copy view, equality, and every misuse of its lifecycle.

Misuse must give a FrameLifecycleError (never a bare BufferError) and lose or corrupt nothing.
A state machine at the end drives random sequences of feeds, reads, slices, views, discards and
zero-copy reads, and checks after every step that no byte was lost, reordered or changed.
"""

from __future__ import annotations

import gc
import sys
import weakref
from typing import Any

import numpy
import pytest

import streamframer
from streamframer import (
    BufferManager,
    Frame,
    FrameLifecycleError,
    StreamFramerError,
    read_with_rule,
    until_delim,
)

LINE = until_delim(b"\n")


def outstanding(data: bytes = b"abcd\nefgh\n", rule: Any = LINE) -> tuple[BufferManager, Frame]:
    mgr = BufferManager()
    mgr.feed(data)
    frame = mgr.next_frame(rule)
    assert frame is not None
    return mgr, frame


def rest(mgr: BufferManager) -> list[bytes]:
    """Every frame still buffered, consumed."""
    return mgr.drain(LINE)


# --------------------------------------------------------------------------------------------
# Reading a frame


def test_frame_access() -> None:
    mgr, frame = outstanding()
    assert bytes(frame) == frame.tobytes() == b"abcd"
    assert len(frame) == 4
    view = frame.view
    assert isinstance(view, memoryview)
    assert view.readonly
    assert view.tobytes() == b"abcd"
    assert frame.view is view or frame.view == view
    with pytest.raises(TypeError):
        view[0] = 0
    assert not frame.consumed
    assert "abcd" in repr(frame)
    view.release()
    frame.consume()
    assert frame.consumed
    assert repr(frame) == "<Frame consumed>"
    assert rest(mgr) == [b"efgh"]


def test_view_is_zero_copy() -> None:
    mgr, frame = outstanding(b"x" * 1000 + b"\n")
    view = frame.view
    # A window on the manager's buffer, not a copy: the pure core's bytearray, or the compiled
    # core's frame, which exports the buffer itself.
    assert view.obj is frame or view.obj is getattr(mgr, "_buf", None)
    view.release()
    frame.consume()


def test_frame_equality() -> None:
    _, frame = outstanding()
    assert frame == b"abcd"
    assert frame == bytearray(b"abcd")
    assert frame == memoryview(b"abcd")
    assert frame != b"abc"
    assert frame != "abcd"
    assert frame != 4
    _, other = outstanding(b"abcd\n")
    assert frame == other
    with pytest.raises(TypeError):
        hash(frame)
    with pytest.raises(TypeError, match="'<' not supported"):
        frame < b"abce"  # noqa: B015 - equality only: frames are not ordered
    frame.consume()
    other.consume()


def test_a_manager_can_be_referenced_weakly() -> None:
    mgr = BufferManager()
    ref = weakref.ref(mgr)
    assert ref() is mgr
    del mgr
    gc.collect()
    assert ref() is None


def test_frames_cannot_be_made_directly() -> None:
    with pytest.raises(TypeError, match="BufferManager"):
        Frame()


@pytest.mark.parametrize(
    ("rule", "payload"),
    [
        (until_delim(b"\n", strip=b"\r"), b"ab"),
        (until_delim(b"\n", keep_delimiter=True), b"ab\r\n"),
        (until_delim(b"\r\n"), b"ab"),
    ],
    ids=repr,
)
def test_frame_spans_of_rule_options(rule: Any, payload: bytes) -> None:
    mgr, frame = outstanding(b"ab\r\nz\n", rule)
    assert frame == payload
    assert frame.view == payload
    frame.consume()
    assert bytes(mgr.view()) == b"z\n"


# --------------------------------------------------------------------------------------------
# Misuse


def test_reading_again_while_a_frame_is_outstanding() -> None:
    mgr, frame = outstanding()

    class Untouchable:
        def recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:
            raise AssertionError("the socket was read while a frame was outstanding")

    for read in (
        lambda: mgr.next_frame(LINE),
        lambda: mgr.drain(LINE),
        lambda: read_with_rule(Untouchable(), mgr, LINE),
    ):
        with pytest.raises(FrameLifecycleError, match=r"previous frame \(4 bytes\).*consume"):
            read()
    assert frame == b"abcd"
    frame.consume()
    assert rest(mgr) == [b"efgh"]


def test_consume_while_a_slice_of_the_view_is_held() -> None:
    mgr, frame = outstanding()
    piece = frame.view[1:3]
    with pytest.raises(FrameLifecycleError, match="view of this frame is still alive"):
        frame.consume()
    assert not frame.consumed
    assert bytes(piece) == b"bc"  # the slice never sees bytes change under it
    assert frame == b"abcd"
    with pytest.raises(FrameLifecycleError):  # refused again while the slice lives
        frame.consume()
    assert not frame.consumed
    mgr.feed(b"ijkl\n")  # allowed meanwhile: waits for the frame
    del piece
    frame.consume()
    assert rest(mgr) == [b"efgh", b"ijkl"]


def test_consume_while_a_slice_of_a_released_view_is_held() -> None:
    mgr, frame = outstanding()
    view = frame.view
    piece = view[:2]
    view.release()
    with pytest.raises(FrameLifecycleError):
        frame.consume()
    assert bytes(piece) == b"ab"
    piece.release()
    frame.consume()
    assert rest(mgr) == [b"efgh"]


def test_consume_while_a_numpy_array_on_the_view_is_held() -> None:
    mgr, frame = outstanding(b"\x01\x02\x03\x04\nefgh\n")
    array = numpy.frombuffer(frame.view, dtype=numpy.uint8)
    with pytest.raises(FrameLifecycleError):
        frame.consume()
    assert array.tolist() == [1, 2, 3, 4]
    del array
    frame.consume()
    assert rest(mgr) == [b"efgh"]


def test_memoryview_of_a_frame() -> None:
    mgr, frame = outstanding()
    if sys.version_info >= (3, 12) or streamframer.IMPLEMENTATION == "c":  # PEP 688, or C
        view = memoryview(frame)
        assert view.readonly
        assert view.tobytes() == b"abcd"
        with pytest.raises(FrameLifecycleError):
            frame.consume()
        assert bytes(view) == b"abcd"
        view.release()
        with memoryview(frame) as again:
            assert again.tobytes() == b"abcd"
    else:  # no buffer protocol for Python classes before 3.12: frame.view is the way
        with pytest.raises(TypeError):
            memoryview(frame)
        assert memoryview(frame.view).tobytes() == b"abcd"
    frame.consume()
    assert rest(mgr) == [b"efgh"]


def test_view_after_releasing_it_is_usable() -> None:
    """releasing frame.view, as the docs ask, must not break later frame.view calls."""
    mgr, frame = outstanding()
    with frame.view as view:
        assert view.tobytes() == b"abcd"
    assert bytes(frame.view) == b"abcd"
    frame.view.release()
    assert frame.view[1:2].tobytes() == b"b"
    frame.consume()
    assert rest(mgr) == [b"efgh"]


def test_using_a_frame_after_consume() -> None:
    _, frame = outstanding()
    frame.consume()
    uses = [
        lambda: len(frame),
        lambda: bytes(frame),
        lambda: frame.tobytes(),
        lambda: frame.view,
        lambda: frame == b"abcd",
        frame.consume,
    ]
    for use in uses:
        with pytest.raises(FrameLifecycleError, match="already consumed"):
            use()
    assert frame.consumed


def test_a_stale_frame_never_shows_the_next_frame() -> None:
    mgr, first = outstanding()
    first.consume()
    second = mgr.next_frame(LINE)
    assert second == b"efgh"
    for use in (lambda: bytes(first), lambda: len(first), first.consume):
        with pytest.raises(FrameLifecycleError):
            use()
    assert not second.consumed
    second.consume()


def test_with_frame_consumes_on_exit() -> None:
    mgr, frame = outstanding()
    with frame as entered:
        assert entered is frame
        assert frame == b"abcd"
    assert frame.consumed
    second = mgr.next_frame(LINE)
    assert second is not None
    with pytest.raises(KeyError), second:
        raise KeyError("boom")
    assert second.consumed
    mgr.feed(b"x\n")
    third = mgr.next_frame(LINE)
    assert third is not None
    with third:
        third.consume()  # consuming inside the block is fine
    assert third.consumed
    assert len(mgr) == 0


def test_with_frame_while_a_slice_is_held_reports_lifecycle_error() -> None:
    mgr, frame = outstanding()
    with pytest.raises(FrameLifecycleError), frame:
        piece = frame.view[:1]
    assert not frame.consumed
    del piece
    frame.consume()
    assert rest(mgr) == [b"efgh"]


def test_lifecycle_errors_belong_to_the_tree() -> None:
    assert issubclass(FrameLifecycleError, StreamFramerError)
    assert not issubclass(FrameLifecycleError, BufferError)
