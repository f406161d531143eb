"""BufferManager: frames out. Custom rule results and scan bookkeeping, switching rules,
drain(), and the overflow / EOF policies.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from helpers import buffered
from helpers import take as take_frame
from streamframer import (
    BufferManager,
    FrameDiscarded,
    FrameLifecycleError,
    FrameSpan,
    FrameTooLarge,
    FramingError,
    NeedMore,
    RuleResult,
    StreamClosed,
    until_delim,
    until_eot,
)

LINE = until_delim(b"\n")


def take(mgr: BufferManager, rule: Any = LINE) -> bytes | None:
    """The next frame's payload, consumed; None when no frame is complete."""
    return take_frame(mgr, rule)


# --------------------------------------------------------------------------------------------
# Custom rules: bad results, errors, scan bookkeeping


@pytest.mark.parametrize(
    ("result", "error"),
    [
        (None, TypeError),
        ((0, 1, 1), TypeError),
        (3, TypeError),
        (FrameSpan(0, 0, 0), ValueError),  # consume must be > 0
        (FrameSpan(2, 1, 3), ValueError),  # start > end
        (FrameSpan(0, 3, 2), ValueError),  # end > consume
        (FrameSpan(0, 1, 5), ValueError),  # consume > len(buffer)
        (FrameSpan(-1, 1, 2), ValueError),
        (NeedMore(-1), ValueError),
        (NeedMore(5), ValueError),  # resume > len(buffer)
    ],
)
def test_invalid_rule_results_are_refused(result: Any, error: type) -> None:
    def bad(buffer: bytearray, scan: int) -> Any:
        return result

    mgr = BufferManager()
    mgr.feed(b"ab\nc")
    with pytest.raises(error, match=r"bad|NeedMore or FrameSpan"):
        mgr.next_frame(bad)
    assert buffered(mgr) == b"ab\nc"
    assert take(mgr) == b"ab"


def test_custom_rule_sees_exactly_the_unconsumed_bytes_and_its_own_scan() -> None:
    calls: list[tuple[bytes, int]] = []

    def rule(buffer: bytearray, scan: int) -> RuleResult:
        calls.append((bytes(buffer), scan))
        return LINE(buffer, scan)

    mgr = BufferManager()
    mgr.feed(b"ab\ncd")
    assert take(mgr, rule) == b"ab"
    assert take(mgr, rule) is None
    mgr.feed(b"ef")
    assert take(mgr, rule) is None
    mgr.feed(b"\n")
    assert take(mgr, rule) == b"cdef"
    assert calls == [(b"ab\ncd", 0), (b"cd", 0), (b"cdef", 2), (b"cdef\n", 4)]


def test_switching_rules_starts_the_new_scan_afresh() -> None:
    mgr = BufferManager()
    mgr.feed(b"xx\x04yy")
    assert take(mgr, LINE) is None  # LINE examined everything and asks to resume at 5
    assert take(mgr, until_eot(4)) == b"xx"  # the new rule must look from the start
    scans: list[int] = []

    def recording(buffer: bytearray, scan: int) -> RuleResult:
        scans.append(scan)
        return LINE(buffer, scan)

    mgr.feed(b"zz")
    assert take(mgr, LINE) is None
    assert take(mgr, recording) is None
    assert take(mgr, LINE) is None
    assert take(mgr, recording) is None
    assert scans == [0, 0]
    mgr.feed(b"\n")
    assert take(mgr, recording) == b"yyzz"


def test_equal_rules_frame_alike() -> None:
    """Two equal rule objects give the same frames, whichever is used for which frame."""
    one, other = until_delim(b"\r\n"), until_delim(b"\r\n")
    mgr = BufferManager()
    mgr.feed(b"a\r")
    assert take(mgr, one) is None
    mgr.feed(b"\nb\r")
    assert take(mgr, other) == b"a"
    assert take(mgr, one) is None
    mgr.feed(b"\n")
    assert take(mgr, other) == b"b"


# --------------------------------------------------------------------------------------------
# drain()


def test_drain_returns_every_buffered_frame_once() -> None:
    mgr = BufferManager()
    mgr.feed(b"a\nb\n\nc")
    assert mgr.drain(LINE) == [b"a", b"b", b""]
    assert mgr.drain(LINE) == []
    mgr.feed(b"\n")
    assert mgr.drain(LINE) == [b"c"]
    assert len(mgr) == 0


def test_drain_refused_while_a_frame_is_outstanding() -> None:
    mgr = BufferManager()
    mgr.feed(b"a\nb\n")
    frame = mgr.next_frame(LINE)
    assert frame is not None
    with pytest.raises(FrameLifecycleError, match="outstanding"):
        mgr.drain(LINE)
    frame.consume()
    assert mgr.drain(LINE) == [b"b"]


def test_drain_keeps_frames_found_before_a_framing_error() -> None:
    """frames consumed by drain() must be returned even when a later frame is corrupt."""

    def strict(buffer: bytearray, scan: int) -> RuleResult:
        if buffer.startswith(b"bad\n"):
            raise FramingError("bad frame", 0)
        return LINE(buffer, scan)

    mgr = BufferManager()
    mgr.feed(b"a\nb\nbad\nc\n")
    got: list[bytes] = []
    with contextlib.suppress(FramingError):
        got += mgr.drain(strict)
    assert got == [b"a", b"b"]
    with pytest.raises(FramingError):
        mgr.drain(strict)
    assert buffered(mgr) == b"bad\nc\n"


@pytest.mark.parametrize("rule", [LINE, until_delim(b"\n", strip=b"\r")], ids=repr)
def test_drain_stops_before_an_oversized_frame(rule: Any) -> None:
    mgr = BufferManager(max_size=8)
    mgr.feed(b"a\nb\n" + b"x" * 20 + b"\nc\n")
    assert mgr.drain(rule) == [b"a", b"b"]
    with pytest.raises(FrameTooLarge) as info:  # raised once, after the frames before it
        mgr.drain(rule)
    assert (info.value.limit, info.value.size) == (8, 21)
    with pytest.raises(FrameLifecycleError, match="recover"):  # then: recover first
        mgr.drain(rule)
    assert buffered(mgr) == b"x" * 20 + b"\nc\n"
    mgr.discard(21)
    assert mgr.drain(rule) == [b"c"]


def test_drain_at_eof() -> None:
    mgr = BufferManager()
    mgr.feed(b"a\nb\nc")
    mgr.feed_eof()
    assert mgr.drain(LINE) == [b"a", b"b"]
    with pytest.raises(StreamClosed) as info:
        mgr.drain(LINE)
    assert info.value.partial == b"c"


# --------------------------------------------------------------------------------------------
# Overflow and EOF policies


def test_on_eof_frame_delivers_the_tail_as_a_last_frame() -> None:
    mgr = BufferManager(on_eof="frame")
    mgr.feed(b"a\nb")
    mgr.feed_eof()
    assert take(mgr) == b"a"
    assert take(mgr) == b"b"
    with pytest.raises(StreamClosed) as info:
        mgr.next_frame(LINE)
    assert info.value.partial == b""


def test_drain_on_eof_frame_delivers_the_tail() -> None:
    """drain() with on_eof="frame" must not leave an orphan outstanding frame."""
    mgr = BufferManager(on_eof="frame")
    mgr.feed(b"a\nb")
    mgr.feed_eof()
    got: list[bytes] = []
    with pytest.raises(StreamClosed) as info:
        drain_until_closed(mgr, got)
    assert got == [b"a", b"b"]
    assert info.value.partial == b""


def drain_until_closed(mgr: BufferManager, got: list[bytes], calls: int = 5) -> None:
    """drain() until StreamClosed, at most ``calls`` times (a call returning [] forever fails)."""
    for _ in range(calls):
        got += mgr.drain(LINE)
    raise AssertionError(f"no StreamClosed after {calls} drain() calls, got {got}")


def test_on_overflow_discard_drops_the_frame_and_reports_it_once() -> None:
    mgr = BufferManager(max_size=8, on_overflow="discard")
    mgr.feed(b"a\n" + b"x" * 20 + b"\nb\n")
    assert take(mgr) == b"a"
    with pytest.raises(FrameDiscarded) as info:
        mgr.next_frame(LINE)
    assert (info.value.limit, info.value.size) == (8, 21)
    assert isinstance(info.value, FrameTooLarge)
    assert take(mgr) == b"b"


def test_on_overflow_discard_across_reads() -> None:
    mgr = BufferManager(max_size=8, on_overflow="discard")
    mgr.feed(b"x" * 10)
    assert take(mgr) is None
    mgr.feed(b"y" * 10)
    assert take(mgr) is None
    mgr.feed(b"yy\nok\n")
    with pytest.raises(FrameDiscarded) as info:
        mgr.next_frame(LINE)
    assert info.value.size == 23
    assert take(mgr) == b"ok"


def test_drain_reports_a_discarded_frame() -> None:
    """drain() must not swallow the one-time FrameDiscarded report."""
    mgr = BufferManager(max_size=8, on_overflow="discard")
    mgr.feed(b"a\n" + b"x" * 20 + b"\nb\n")
    got: list[bytes] = []
    reports = 0
    for _ in range(4):
        try:
            got += mgr.drain(LINE)
        except FrameDiscarded:
            reports += 1
    assert got == [b"a", b"b"]
    assert reports == 1


def test_drain_during_a_discard_skips_the_oversized_tail() -> None:
    """while an oversized frame is being dropped, drain() must not deliver its tail."""
    mgr = BufferManager(max_size=8, on_overflow="discard")
    mgr.feed(b"x" * 10)
    assert mgr.drain(LINE) == []
    mgr.feed(b"yy\nok\n")
    got: list[bytes] = []
    reports = 0
    for _ in range(3):
        try:
            got += mgr.drain(LINE)
        except FrameDiscarded:
            reports += 1
    assert (got, reports) == ([b"ok"], 1)


def test_policies_with_chunked_input() -> None:
    """The discard policy gives the same frames however the stream is cut."""
    stream = b"ok\n" + b"z" * 30 + b"\nfine\n"

    def manager() -> BufferManager:
        return BufferManager(max_size=8, on_overflow="discard")

    for size in (1, 3, 7, len(stream)):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        got: list[bytes] = []
        mgr = manager()
        for chunk in chunks:
            mgr.feed(chunk)
            while True:
                try:
                    payload = take(mgr)
                except FrameDiscarded:
                    got.append(b"<discarded>")
                    continue
                if payload is None:
                    break
                got.append(payload)
        assert got == [b"ok", b"<discarded>", b"fine"], size


def u16_prefixed(buffer: bytearray, scan: int) -> RuleResult:
    """The rule contract's own example: a 2-byte big-endian length, then the payload."""
    if len(buffer) < 2:
        return NeedMore(0)
    size = 2 + int.from_bytes(buffer[:2], "big")
    if len(buffer) < size:
        return NeedMore(0, frame_size=size)
    return FrameSpan(2, size, size)


def test_discard_a_frame_whose_header_declares_it_too_large() -> None:
    """The declared size is dropped exactly, across reads, then reported once."""
    mgr = BufferManager(max_size=10, on_overflow="discard")
    body = bytes(range(20))
    stream = b"\x00\x14" + body + b"\x00\x02ok"
    got: list[object] = []
    for at in range(0, len(stream), 3):
        mgr.feed(stream[at : at + 3])
        while True:
            try:
                payload = take(mgr, u16_prefixed)
            except FrameDiscarded as exc:
                got.append(("discarded", exc.size))
                continue
            if payload is None:
                break
            got.append(payload)
    assert got == [("discarded", 22), b"ok"]
    assert len(mgr) == 0


def test_discard_interrupted_by_the_end_of_the_stream() -> None:
    mgr = BufferManager(max_size=8, on_overflow="discard")
    mgr.feed(b"x" * 12)
    assert take(mgr) is None  # dropping has begun
    mgr.feed(b"yyy")
    mgr.feed_eof()
    with pytest.raises(FrameDiscarded) as info:
        mgr.next_frame(LINE)
    assert info.value.size == 15
    with pytest.raises(StreamClosed) as closed:
        mgr.next_frame(LINE)
    assert closed.value.partial == b""


def test_discard_with_a_rule_that_rescans_from_the_start() -> None:
    """A rule that always resumes at 0 gives no examined prefix: a full buffer is dropped."""

    def rescanning(buffer: bytearray, scan: int) -> RuleResult:
        index = buffer.find(b"\n")
        return NeedMore(0) if index < 0 else FrameSpan(0, index, index + 1)

    mgr = BufferManager(max_size=8, on_overflow="discard")
    mgr.feed(b"x" * 8)
    assert take(mgr, rescanning) is None
    assert len(mgr) == 0  # dropped: it cannot be a frame that fits
    mgr.feed(b"tail\nok\n")
    with pytest.raises(FrameDiscarded) as info:
        mgr.next_frame(rescanning)
    assert info.value.size == 13
    assert take(mgr, rescanning) == b"ok"


def test_drain_batch_path_delivers_the_eof_tail() -> None:
    """on_eof="frame" through the batch path proper (the rule already known to the manager)."""
    mgr = BufferManager(on_eof="frame")
    mgr.feed(b"a\n")
    assert mgr.drain(LINE) == [b"a"]
    mgr.feed(b"tail")
    mgr.feed_eof()
    assert mgr.drain(LINE) == [b"tail"]
    with pytest.raises(StreamClosed) as info:
        mgr.drain(LINE)
    assert info.value.partial == b""
