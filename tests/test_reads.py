"""What reads over a socket cost, counted (rule calls, bytes allocated), never timed.

* A rule that said how long its frame is (``NeedMore.frame_size``) is not called again until
  that many bytes are buffered, however the bytes arrive.
* While large frames arrive, the buffer holds at most the largest frame plus two reads
  (tracemalloc: every allocation the manager makes, its bytearray's included).
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from streamframer import (
    BufferManager,
    FrameSpan,
    NeedMore,
    RuleResult,
    StreamClosed,
    length_prefixed,
    read_with_rule,
    until_delim,
)

KiB = 1024
MiB = 1024 * KiB


class CountingU16:
    """A user-written rule for a 2-byte length header, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, buffer: bytearray, scan: int) -> RuleResult:
        self.calls += 1
        if len(buffer) < 2:
            return NeedMore(0)
        size = 2 + int.from_bytes(buffer[:2], "big")
        if len(buffer) < size:
            return NeedMore(0, frame_size=size)
        return FrameSpan(2, size, size)


class Trickle:
    """A socket double delivering ``data`` ``step`` bytes per read, then the end."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data = memoryview(data)
        self.step = step
        self.reads = 0

    def recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:
        self.reads += 1
        size = min(self.step, len(buffer), len(self.data))
        buffer[:size] = self.data[:size]
        self.data = self.data[size:]
        return size


def read_all(sock: Any, mgr: BufferManager, rule: Any, copy: bool = True) -> list[Any]:
    """Every frame until the end of the stream (its payload, or with ``copy=False`` its size),
    then the partial frame the end of the stream cut."""
    frames: list[Any] = []
    while True:
        try:
            frame = read_with_rule(sock, mgr, rule)
        except StreamClosed as exc:
            return [*frames, exc.partial]  # the partial frame at the end, b"" when clean
        if frame is not None:
            with frame:
                frames.append(bytes(frame) if copy else len(frame))


def frames_of(payloads: list[bytes]) -> bytes:
    return b"".join(len(p).to_bytes(2, "big") + p for p in payloads)


def test_a_header_rule_waits_for_its_frame_fed_byte_by_byte() -> None:
    rule = CountingU16()
    payloads = [bytes([n]) * 1000 for n in range(13)]
    mgr = BufferManager()
    got = []
    for byte in frames_of(payloads):
        mgr.feed(bytes([byte]))
        frame = mgr.next_frame(rule)
        if frame is not None:
            with frame:
                got.append(bytes(frame))
    assert got == payloads
    assert rule.calls <= 3 * len(payloads)  # two header bytes, then the complete frame


def test_a_header_rule_waits_for_its_frame_read_in_small_pieces() -> None:
    rule = CountingU16()
    payloads = [bytes([n]) * 5000 for n in range(5)]
    sock = Trickle(frames_of(payloads), 7)
    mgr = BufferManager()
    assert read_all(sock, mgr, rule) == [*payloads, b""]
    assert sock.reads > 3500
    assert rule.calls <= 3 * len(payloads) + 2  # + the calls that meet the end of the stream


class Pattern:
    """A socket double delivering ``count`` copies of ``frame`` in reads of ``size`` bytes,
    without allocating the stream (so tracemalloc sees the manager's memory only)."""

    def __init__(self, frame: bytes, count: int, size: int) -> None:
        self.frame = memoryview(frame)
        self.left = len(frame) * count
        self.offset = 0
        self.size = size

    def recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:
        room = min(len(buffer), self.size, self.left)
        done = 0
        while done < room:
            piece = min(room - done, len(self.frame) - self.offset)
            buffer[done : done + piece] = self.frame[self.offset : self.offset + piece]
            done += piece
            self.offset = (self.offset + piece) % len(self.frame)
        self.left -= done
        return done


@pytest.mark.parametrize(
    ("rule", "frame"),
    [
        (until_delim(b"\n"), b"x" * MiB + b"\n"),
        (length_prefixed(4), MiB.to_bytes(4, "big") + b"y" * MiB),
    ],
    ids=["until_delim", "length_prefixed"],
)
def test_memory_peak_is_the_largest_frame_and_two_reads(rule: Any, frame: bytes) -> None:
    read_size = 64 * KiB
    count = 6
    sock = Pattern(frame, count, read_size)
    tracemalloc.start()
    try:
        frames = read_all(sock, BufferManager(read_size=read_size), rule, copy=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert frames == [MiB] * count + [b""]
    bound = len(frame) + 2 * read_size
    assert peak <= bound, f"peak {peak} bytes, bound {bound}"
