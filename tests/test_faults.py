"""Faults a hostile peer or a careless caller can cause: never stuck, never silent.

Each test drives the public API only, so it holds for every implementation of the core: the
stream always ends, a refused call changes nothing, a held view never loses a byte, nothing is
copied more often than promised, and two threads never silently mangle frames.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import DETERMINISTIC, ScriptedSocket
from streamframer import (
    BufferManager,
    FrameDiscarded,
    FrameTooLarge,
    FramingError,
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
