"""Limits and memory, measured by counting (bytes delivered, bytes allocated), never by timing;
and the discard policy over any stream and any chunking.
"""

from __future__ import annotations

import sys
import tracemalloc
from typing import Any, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import DETERMINISTIC, ScriptedSocket, buffered, chunks_of, one_big_frame, take
from streamframer import (
    DEFAULT_MAX_SIZE,
    DEFAULT_READ_SIZE,
    BufferManager,
    Frame,
    FrameDiscarded,
    FrameLifecycleError,
    FrameSpan,
    FrameTooLarge,
    NeedMore,
    RuleResult,
    read_with_rule,
    until_delim,
)
from test_rules import RULE_IDS, RULES, expected_split, stream_and_chunks

KiB = 1024
MiB = 1024 * KiB
BIG = 16 * MiB
LINE = until_delim(b"\n")


# --------------------------------------------------------------------------------------------
# Limits


class Garbage:
    """A socket double that fills every read with b"x" (never a delimiter) and counts bytes."""

    def __init__(self) -> None:
        self.delivered = 0
        self.calls = 0
        self._fill = b"x" * DEFAULT_READ_SIZE

    def recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:
        self.calls += 1
        size = min(len(buffer), len(self._fill))
        buffer[:size] = self._fill[:size]
        self.delivered += size
        return size


def test_peer_that_never_sends_a_delimiter_hits_max_size() -> None:
    limit = 200 * KiB
    sock = Garbage()
    mgr = BufferManager(max_size=limit)
    with pytest.raises(FrameTooLarge) as info:
        read_until_error(sock, mgr, limit)
    assert (info.value.limit, info.value.size) == (limit, limit)
    assert str(limit) in str(info.value)
    assert sock.delivered == len(mgr) == limit  # nothing was read beyond the limit
    assert buffered(mgr) == b"x" * limit  # and nothing was lost
    calls = sock.calls
    for _ in range(2):  # raised once; then "recover first", without reading again
        with pytest.raises(FrameLifecycleError, match="recover"):
            read_with_rule(sock, mgr, LINE)
    assert sock.calls == calls
    assert len(mgr) == limit


def read_until_error(sock: Any, mgr: BufferManager, limit: int) -> None:
    """Read until an error; no read may give a frame or fill the buffer past ``limit``."""
    while True:
        assert read_with_rule(sock, mgr, LINE) is None
        assert len(mgr) < limit


@pytest.mark.parametrize("recovery", ["clear", "discard", "raise_limit"])
def test_recovery_after_frame_too_large(recovery: str) -> None:
    mgr = BufferManager(max_size=10)
    script = ScriptedSocket([b"0123456789", b"abc\nok\n"])
    with pytest.raises(FrameTooLarge):
        read_until_error(script, mgr, 10)
    if recovery == "clear":
        mgr.clear()
        expected = [b"abc", b"ok"]
    elif recovery == "discard":
        mgr.discard(8)
        expected = [b"89abc", b"ok"]
    else:
        mgr.max_size = 20
        expected = [b"0123456789abc", b"ok"]
    got: list[bytes] = []
    while len(got) < 2:
        frame = read_with_rule(script, mgr, LINE)
        if frame is not None:
            with frame:
                got.append(bytes(frame))
    assert got == expected


def test_frame_larger_than_max_size_fed_in_one_chunk() -> None:
    mgr = BufferManager(max_size=50)
    big = b"y" * 100 + b"\n"
    mgr.feed(b"ok\n" + big + b"next\n")
    with mgr.next_frame(LINE) as frame:  # type: ignore[union-attr]
        assert frame == b"ok"
    with pytest.raises(FrameTooLarge) as info:
        mgr.next_frame(LINE)
    assert (info.value.limit, info.value.size) == (50, 101)
    assert buffered(mgr) == big + b"next\n"
    mgr.discard(len(big))
    assert take(mgr, LINE) == b"next"


def test_frame_of_exactly_max_size_fits() -> None:
    mgr = BufferManager(max_size=10)
    mgr.feed(b"123456789\n")
    assert take(mgr, LINE) == b"123456789"


def test_declared_frame_size_is_refused_before_the_body_arrives() -> None:
    def prefixed(buffer: bytearray, scan: int) -> RuleResult:
        if len(buffer) < 2:
            return NeedMore(0)
        size = 2 + int.from_bytes(buffer[:2], "big")
        if len(buffer) < size:
            return NeedMore(0, frame_size=size)
        return FrameSpan(2, size, size)

    mgr = BufferManager(max_size=100)
    mgr.feed(b"\x01\x00abc")  # declares 2 + 256 bytes
    with pytest.raises(FrameTooLarge) as info:
        mgr.next_frame(prefixed)
    assert (info.value.limit, info.value.size) == (100, 258)
    assert len(mgr) == 5


def test_max_size_none_opts_out() -> None:
    mgr = BufferManager(max_size=None)
    chunk = b"z" * MiB
    for _ in range(17):  # past the 16 MiB default
        mgr.feed(chunk)
        assert mgr.next_frame(LINE) is None
    mgr.feed(b"\n")
    frame = mgr.next_frame(LINE)
    assert frame is not None
    assert len(frame) == 17 * MiB
    frame.consume()


def test_memory_stays_bounded_while_streaming_garbage() -> None:
    limit = MiB
    sock = Garbage()
    tracemalloc.start()
    try:
        mgr = BufferManager(max_size=limit)
        errors = []
        while sock.delivered < 10 * limit:
            try:
                read_until_error(sock, mgr, limit)
            except FrameTooLarge as exc:
                errors.append((exc.limit, exc.size))
                mgr.clear()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert errors == [(limit, limit)] * 10
    assert peak < limit + 4 * DEFAULT_READ_SIZE, f"peak {peak} bytes"


# --------------------------------------------------------------------------------------------
# Memory


def test_idle_manager_is_small() -> None:
    mgr = BufferManager()
    assert sys.getsizeof(mgr) <= 1024  # the buffer included
    mgr.feed(b"a\n")
    with mgr.next_frame(LINE):  # type: ignore[union-attr]
        pass
    mgr.feed(b"b")
    assert sys.getsizeof(mgr) <= 1024  # the buffer included


@pytest.mark.parametrize("path", ["feed", "read_with_rule"])
def test_capacity_is_given_back_after_a_big_frame(path: str) -> None:
    """A stream of big frames keeps its capacity from one frame to the next; once a smaller
    frame came, the next read gives back what only the big one needed."""
    stream = one_big_frame(b"\n", BIG) + b"small"
    mgr = BufferManager()
    sock = ScriptedSocket([stream, b"\n", b"end\n"])

    def next_frame(data: bytes) -> Frame:
        if path == "feed":
            mgr.feed(data)
            frame = mgr.next_frame(LINE)
        else:
            frame = None
            while frame is None:
                frame = read_with_rule(sock, mgr, LINE)
        assert frame is not None
        return frame

    if path == "feed":
        for chunk in chunks_of(stream, 64 * KiB):
            mgr.feed(chunk)
    big = next_frame(b"")
    assert len(big) == BIG - 1
    assert sys.getsizeof(mgr) >= BIG
    big.consume()
    small = next_frame(b"\n")
    assert small == b"small"
    small.consume()
    end = next_frame(b"end\n")
    assert end == b"end"
    end.consume()
    assert sys.getsizeof(mgr) <= 2 * DEFAULT_READ_SIZE, sys.getsizeof(mgr)


# --------------------------------------------------------------------------------------------
# The discard policy, over any stream and any chunking

Outcome = Union[bytes, tuple[str, int]]


def discarding(
    rule: Any, chunks: list[bytes], limit: int, batch: bool
) -> tuple[list[Outcome], BufferManager]:
    """Frames and discard reports, in order, through next_frame() or drain()."""
    mgr = BufferManager(max_size=limit, on_overflow="discard")
    out: list[Outcome] = []
    for chunk in chunks:
        mgr.feed(chunk)
        for _ in range(len(chunk) + 2):  # each step makes progress; a loop beyond is a bug
            try:
                if batch:
                    payloads = mgr.drain(rule)
                    out += payloads
                    if not payloads:
                        break
                    continue
                frame = mgr.next_frame(rule)
            except FrameDiscarded as exc:
                out.append(("discarded", exc.size))
                continue
            if frame is None:
                break
            with frame:
                out.append(bytes(frame))
        else:
            raise AssertionError("no progress")
    return out, mgr


@pytest.mark.parametrize(("rule", "delim", "strip", "keep"), RULES[:8], ids=RULE_IDS[:8])
@settings(DETERMINISTIC, max_examples=40)
@given(data=st.data())
def test_discard_policy_drops_exactly_the_oversized_frames(
    rule: Any, delim: bytes, strip: bytes | None, keep: bool, data: Any
) -> None:
    stream, chunks = data.draw(stream_and_chunks(delim))
    limit = data.draw(st.integers(len(delim) + 1, 10))
    frames, _ = expected_split(stream, delim, strip, keep)
    sizes = [len(part) + len(delim) for part in stream.split(delim)[:-1]]
    expected = [
        frame if size <= limit else ("discarded", size) for frame, size in zip(frames, sizes)
    ]
    for batch in (False, True):
        got, mgr = discarding(rule, chunks, limit, batch)
        assert got == expected, "drain()" if batch else "next_frame()"
        assert len(mgr) <= max(limit, len(stream.split(delim)[-1]))


def test_policies_set_after_construction_take_effect() -> None:
    mgr = BufferManager(8)
    mgr.on_overflow = "discard"
    mgr.feed(b"0123456789abc\nok\n")
    with pytest.raises(FrameDiscarded) as discarded:
        mgr.next_frame(LINE)
    assert discarded.value.size == 14
    assert mgr.drain(LINE) == [b"ok"]
    mgr.on_eof = "frame"
    mgr.feed(b"tail")
    mgr.feed_eof()
    assert mgr.drain(LINE) == [b"tail"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("on_eof", "fram", "on_eof must be 'raise' or 'frame', got 'fram'"),
        ("on_overflow", "drop", "on_overflow must be 'error' or 'discard', got 'drop'"),
    ],
)
def test_a_policy_is_checked_when_set_and_cannot_be_deleted(
    name: str, value: str, message: str
) -> None:
    mgr = BufferManager()
    default = getattr(mgr, name)
    with pytest.raises(ValueError, match=message):
        setattr(mgr, name, value)
    with pytest.raises(AttributeError):
        delattr(mgr, name)
    assert getattr(mgr, name) == default


@pytest.mark.parametrize(
    ("name", "default"), [("max_size", DEFAULT_MAX_SIZE), ("read_size", DEFAULT_READ_SIZE)]
)
def test_a_size_setting_cannot_be_deleted(name: str, default: int) -> None:
    mgr = BufferManager()
    with pytest.raises(AttributeError, match="delete"):
        delattr(mgr, name)
    assert getattr(mgr, name) == default
