"""Faults a hostile peer or a careless caller can cause: never stuck, never silent.

Each test drives the public API only, so it holds for every implementation of the core: the
stream always ends, a refused call changes nothing, a held view never loses a byte, nothing is
copied more often than promised, and two threads never silently mangle frames.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import DETERMINISTIC, ScriptedRecvSocket, ScriptedSocket, buffered
from streamframer import (
    BufferManager,
    FrameDiscarded,
    FrameLifecycleError,
    FrameTooLarge,
    FramingError,
    NeedMore,
    RuleResult,
    StreamClosed,
    between,
    fixed_size,
    ieee_block,
    iter_frames,
    length_prefixed,
    read_with_rule,
    scpi_response,
    until_any,
    until_delim,
)

LINE = until_delim(b"\n")
ALL_RULES = [
    LINE,
    until_delim(b"\r\n", strip=b"\r"),
    until_any((b"\r\n", b"\n")),
    fixed_size(5),
    length_prefixed(1),
    length_prefixed(8),
    ieee_block(),
    scpi_response(),
    between(b"\x02", b"\x03"),
]


# --------------------------------------------------------------------------------------------
# The end of the stream always ends the reading


def test_discarding_a_declared_frame_stops_at_the_end_of_the_stream() -> None:
    """A header declaring 2**63 bytes, then EOF: the discard is reported, then the stream ends
    (it used to answer "no frame yet" forever, and read loops spun)."""
    rule = length_prefixed(8)
    mgr = BufferManager(64, on_overflow="discard")
    mgr.feed((1 << 63).to_bytes(8, "big") + b"x" * 100)
    assert mgr.next_frame(rule) is None
    mgr.feed_eof()
    with pytest.raises(FrameDiscarded) as info:
        mgr.next_frame(rule)
    assert info.value.size == 108
    for _ in range(2):
        with pytest.raises(StreamClosed) as closed:
            mgr.next_frame(rule)
        assert closed.value.partial == b""


def test_read_loops_end_when_a_discarded_frame_is_cut_by_the_end_of_the_stream() -> None:
    rule = length_prefixed(8)
    header = (1 << 63).to_bytes(8, "big")
    sock = ScriptedSocket([header + b"x" * 100, b"y" * 50, b""])
    mgr = BufferManager(64, on_overflow="discard")
    outcomes: list[Any] = []
    for _ in range(10):  # a loop that never ends fails here instead of spinning
        try:
            outcomes.append(read_with_rule(sock, mgr, rule))
        except FrameDiscarded as exc:
            outcomes.append(("discarded", exc.size))
        except StreamClosed as exc:
            outcomes.append(("closed", exc.partial))
            break
    assert outcomes[-2:] == [("discarded", 158), ("closed", b"")]
    assert all(outcome is None for outcome in outcomes[:-2])
    sock = ScriptedSocket([header + b"x" * 100, b""])
    with pytest.raises(FrameDiscarded):
        list(iter_frames(sock, BufferManager(64, on_overflow="discard"), rule))


@pytest.mark.parametrize("rule", ALL_RULES, ids=repr)
@pytest.mark.parametrize("on_overflow", ["error", "discard"])
@pytest.mark.parametrize("on_eof", ["raise", "frame"])
@DETERMINISTIC
@given(stream=st.binary(max_size=80), cut=st.integers(0, 80), limit=st.integers(4, 40))
def test_after_the_end_of_the_stream_next_frame_never_answers_none(
    rule: Any, on_overflow: Any, on_eof: Any, stream: bytes, cut: int, limit: int
) -> None:
    """Whatever the bytes, read in two pieces, once the stream has ended every call gives a
    frame or raises, and within a bounded number of calls the stream is closed."""
    mgr = BufferManager(limit, on_overflow=on_overflow, on_eof=on_eof)
    for chunk in (stream[:cut], stream[cut:]):
        mgr.feed(chunk)
        for _ in range(len(chunk) + 3):  # a rule declaring more than max_size refuses forever
            if take(mgr, rule) is None:
                break
    mgr.feed_eof()
    for _ in range(len(stream) + 3):
        try:
            frame = take(mgr, rule)
        except StreamClosed:
            return
        assert frame is not None, "no frame yet, after the end of the stream"
    pytest.fail("the stream never closed")


def take(mgr: BufferManager, rule: Any) -> Any:
    """The next frame's payload (consumed), an error's name (recovered from), or None."""
    try:
        frame = mgr.next_frame(rule)
    except FrameDiscarded:
        return "discarded"
    except (FrameTooLarge, FramingError) as exc:
        mgr.discard(min(1, len(mgr)))  # a recovery: step past a byte that cannot start a frame
        return type(exc).__name__
    if frame is None:
        return None
    with frame:
        return bytes(frame)


# --------------------------------------------------------------------------------------------
# A view held across a read


@pytest.fixture
def pipe() -> Iterator[tuple[io.FileIO, int]]:
    read_end, write_end = os.pipe()
    source = io.FileIO(read_end, "rb")
    try:
        yield source, write_end
    finally:
        source.close()
        if write_end >= 0:
            with contextlib.suppress(OSError):
                os.close(write_end)


def read_on(source: Any, mgr: BufferManager) -> list[Any]:
    """Frames until the stream ends, then ("closed", partial); a refusal ends the list."""
    out: list[Any] = []
    for _ in range(10):
        try:
            frame = read_with_rule(source, mgr, LINE)
        except FrameLifecycleError:
            out.append("refused")
            return out
        except StreamClosed as exc:
            out.append(("closed", exc.partial))
            return out
        if frame is not None:
            with frame:
                out.append(bytes(frame))
    return out


def test_a_view_held_across_a_pipe_read_wedges_nothing(pipe: tuple[io.FileIO, int]) -> None:
    """A read into the spare capacity needs no move: it lands, and the frame comes out."""
    source, write_end = pipe
    mgr = BufferManager()
    os.write(write_end, b"ab")
    assert read_with_rule(source, mgr, LINE) is None
    with mgr.view() as view:
        os.write(write_end, b"c\nd")
        os.close(write_end)
        assert read_on(source, mgr) == [b"abc", ("closed", b"d")]
        assert bytes(view) == b"ab"  # nothing moved under it


def test_a_read_that_would_move_a_viewed_buffer_is_refused_before_it_reads(
    pipe: tuple[io.FileIO, int],
) -> None:
    source, write_end = pipe
    mgr = BufferManager()
    mgr.feed(b"a")  # the buffer holds exactly one byte: a read must grow it
    os.write(write_end, b"b\n")
    os.close(write_end)
    with mgr.view():
        assert read_on(source, mgr) == ["refused"]
        assert len(mgr) == 1
    assert read_on(source, mgr) == [b"ab", ("closed", b"")]


def test_a_view_held_across_reserve_and_commit_wedges_nothing() -> None:
    """The view was alive before reserve(): it is not the reservation's, commit() keeps."""
    mgr = BufferManager()
    first = mgr.reserve()
    first[:2] = b"ab"
    mgr.commit(2)  # leaves spare capacity behind the two bytes
    with mgr.view() as held:
        view = mgr.reserve(16)
        view[:3] = b"c\nd"
        mgr.commit(3)
        frame = mgr.next_frame(LINE)
        assert frame == b"abc"
        assert frame is not None
        frame.consume()
        assert bytes(held) == b"ab"
    assert buffered(mgr) == b"d"


@pytest.mark.parametrize("kind", [ScriptedSocket, ScriptedRecvSocket])
def test_a_view_held_over_a_socket_loses_neither_a_frame_nor_the_end(kind: Any) -> None:
    """The first read leaves spare capacity: the next ones land there, under the view."""
    sock = kind([b"ab", b"c\nd", b""])
    mgr = BufferManager()
    assert read_with_rule(sock, mgr, LINE) is None
    with mgr.view() as view:
        assert read_on(sock, mgr) == [b"abc", ("closed", b"d")]
        assert bytes(view) == b"ab"
    assert sock.calls == 3  # nothing was read twice, nor past the end


# --------------------------------------------------------------------------------------------
# Refusals change nothing


def test_a_refused_skip_changes_nothing() -> None:
    """A rule dropping noise while a view is held: refused, with the noise still there."""
    rule = between(b"\x02", b"\x03")
    mgr = BufferManager()
    mgr.feed(b"noise\x02ab")
    with mgr.view():
        with pytest.raises(FrameLifecycleError):
            mgr.next_frame(rule)
        assert (len(mgr), mgr.skipped) == (8, 0)
    assert buffered(mgr) == b"noise\x02ab"
    assert mgr.next_frame(rule) is None
    assert mgr.skipped == 5
    mgr.feed(b"\x03")
    frame = mgr.next_frame(rule)
    assert frame == b"ab"


@pytest.mark.parametrize("recovery", ["clear", "discard", "max_size"])
def test_recovery_forgets_an_error_drain_deferred(recovery: str) -> None:
    mgr = BufferManager(10)
    mgr.feed(b"ok\n" + b"x" * 20 + b"\n")
    assert mgr.drain(LINE) == [b"ok"]  # the oversized line's error waits for the next call
    if recovery == "clear":
        mgr.clear()
    elif recovery == "discard":
        mgr.discard(21)
    else:
        mgr.max_size = 100
        mgr.discard(21)
    mgr.feed(b"fine\n")
    assert mgr.drain(LINE) == [b"fine"]


# --------------------------------------------------------------------------------------------
# Bytes waiting behind a frame are bounded, and copied once


def test_feed_behind_an_outstanding_frame_is_bounded_by_max_size() -> None:
    mgr = BufferManager(100)
    mgr.feed(b"a\n")
    frame = mgr.next_frame(LINE)
    assert frame is not None
    mgr.feed(b"x" * 60)
    with pytest.raises(FrameTooLarge) as info:
        mgr.feed(b"y" * 41)
    assert (info.value.limit, info.value.size) == (100, 101)
    assert "41" in str(info.value)
    assert len(mgr) == 62  # the chunk was not taken, nothing before it was lost
    mgr.feed(b"y" * 39)
    with pytest.raises(FrameTooLarge):
        mgr.feed(b"zz")
    mgr.feed(b"\n")  # exactly max_size bytes may wait
    frame.consume()
    assert mgr.next_frame(LINE) == b"x" * 60 + b"y" * 39


def test_the_bound_holds_while_a_view_of_the_frame_pins_the_buffer() -> None:
    mgr = BufferManager(100)
    mgr.feed(b"a\n")
    frame = mgr.next_frame(LINE)
    assert frame is not None
    view = frame.view
    for _ in range(9):
        mgr.feed(b"z" * 11)
    with pytest.raises(FrameTooLarge):
        mgr.feed(b"z" * 2)
    mgr.feed(b"\n")
    view.release()
    frame.consume()
    assert mgr.next_frame(LINE) == b"z" * 99


def test_bytes_waiting_behind_a_viewed_frame_are_copied_once_when_flushed() -> None:
    backlog = 8 * 1024 * 1024
    mgr = BufferManager(None)
    mgr.feed(b"a\n")
    frame = mgr.next_frame(LINE)
    assert frame is not None
    view = frame.view  # pins the buffer: what is fed now waits apart
    chunk = b"w" * 65536
    for _ in range(backlog // len(chunk)):
        mgr.feed(chunk)
    view.release()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        frame.consume()  # the waiting bytes join the buffer
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert len(mgr) == backlog
    assert peak <= backlog * 5 // 4, f"{peak} bytes allocated to flush {backlog}"


# --------------------------------------------------------------------------------------------
# The end of the stream copies a partial frame once


def test_a_partial_frame_at_the_end_is_copied_once() -> None:
    size = 16 * 1024 * 1024 - 1
    mgr = BufferManager(None)
    mgr.feed(b"p" * size)
    assert mgr.next_frame(LINE) is None
    mgr.feed_eof()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        with pytest.raises(StreamClosed) as info:
            mgr.next_frame(LINE)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert len(info.value.partial) == size
    assert peak <= size + size // 8, f"{peak} bytes allocated for a {size}-byte partial frame"


# --------------------------------------------------------------------------------------------
# One manager, two callers at once


def test_a_rule_that_feeds_its_own_manager_is_refused() -> None:
    """A call overlapping another (here from inside the rule, as a second thread would) is
    refused, and the manager is left as it was."""
    mgr = BufferManager()

    def meddling(buffer: bytearray, scan: int) -> RuleResult:
        mgr.feed(b"more\n")
        return NeedMore(0)

    mgr.feed(b"abc")
    with pytest.raises(FrameLifecycleError, match="already in use"):
        mgr.next_frame(meddling)
    assert buffered(mgr) == b"abc"
    assert mgr.next_frame(LINE) is None


def test_a_source_that_reads_frames_during_its_read_is_refused() -> None:
    mgr = BufferManager()
    mgr.feed(b"a\n")

    class Meddling:
        def recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:
            mgr.next_frame(LINE)
            return 0

    frame = mgr.next_frame(LINE)
    assert frame == b"a"
    frame.consume()
    with pytest.raises(FrameLifecycleError, match="already in use"):
        read_with_rule(Meddling(), mgr, LINE)
    assert not mgr.at_eof
    assert len(mgr) == 0


def test_two_threads_on_one_manager_never_mangle_frames() -> None:
    """A feeding thread and a reading thread: every frame that comes out is a whole line, in
    order; an overlap is refused with FrameLifecycleError instead of corrupting the buffer."""
    mgr = BufferManager()
    lines = 200_000
    errors: list[BaseException] = []
    got: list[bytes] = []
    done = threading.Event()

    def feeder() -> None:
        try:
            for number in range(lines):
                if done.is_set():
                    return
                mgr.feed(b"%08d\n" % number)
        except FrameLifecycleError as exc:
            errors.append(exc)
        finally:
            done.set()

    def reader() -> None:
        try:
            while not (done.is_set() and len(got) >= lines):
                frame = mgr.next_frame(LINE)
                if frame is None:
                    if done.is_set():
                        # The feeder is done: what it fed after that last look is still there.
                        while (frame := mgr.next_frame(LINE)) is not None:
                            got.append(bytes(frame))
                            frame.consume()
                        return
                    continue
                got.append(bytes(frame))
                frame.consume()
        except FrameLifecycleError as exc:
            errors.append(exc)
        finally:
            done.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=feeder), threading.Thread(target=reader)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert got == [b"%08d" % number for number in range(len(got))]
    assert errors or len(got) == lines
    for exc in errors:
        assert "already in use" in str(exc)


def test_a_rule_that_keeps_a_view_of_its_buffer_stops_moves_until_it_lets_go() -> None:
    # The contract says a rule keeps no reference to the buffer; one that does (a memoryview)
    # pins the bytes: what would move them is refused, and nothing is lost.
    kept: list[memoryview] = []

    def keeps_a_view(buffer: bytearray, scan: int) -> RuleResult:
        kept.append(memoryview(buffer))
        return LINE(buffer, scan)

    mgr = BufferManager()
    mgr.feed(b"one\ntw")
    with mgr.next_frame(keeps_a_view) as frame:
        assert frame == b"one"
    mgr.feed(b"o\n" * 40_000)
    with pytest.raises(FrameLifecycleError, match="still exported"):
        mgr.next_frame(LINE)
    with pytest.raises(FrameLifecycleError, match="still exported"):
        mgr.reserve(1 << 20)
    for view in kept:
        view.release()
    assert mgr.drain(LINE) == [b"two"] + [b"o"] * 39_999
    assert len(mgr) == 0
