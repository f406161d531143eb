"""The pure-Python core's own bytearray, watched from inside: checks that need its internals.

Every test here replaces ``BufferManager._buf`` with a bytearray subclass that counts what is
done to it, so it only means something for the pure-Python core: the fixture skips the module
when another implementation is in use (the one skip the suite allows).
"""

from __future__ import annotations

from typing import Any

import pytest

from streamframer import (
    BufferManager,
    FrameSpan,
    NeedMore,
    RuleResult,
    StreamClosed,
    read_with_rule,
    until_any,
)

KiB = 1024


pytestmark = pytest.mark.one_core("python")  # watches the pure core's bytearray


class ZeroCounting(bytearray):
    """A bytearray counting the bytes appended to it with ``+=``: the core lengthens its buffer
    that way, with zeros, before a read lands in it."""

    def __init__(self) -> None:
        super().__init__()
        self.appended = 0

    def __iadd__(self, other: Any) -> ZeroCounting:  # type: ignore[misc]
        self.appended += memoryview(other).nbytes
        return super().__iadd__(other)


def counting(mgr: BufferManager) -> ZeroCounting:
    assert type(mgr._buf) is bytearray
    assert not mgr._buf
    counter = mgr._buf = ZeroCounting()
    return counter


class Trickle:
    """A socket double delivering ``data`` ``step`` bytes per read, then the end."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data = memoryview(data)
        self.step = step

    def recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:
        size = min(self.step, len(buffer), len(self.data))
        buffer[:size] = self.data[:size]
        self.data = self.data[size:]
        return size


def u32_prefixed(buffer: bytearray, scan: int) -> RuleResult:
    """A user-written rule: a 4-byte big-endian length, then the payload."""
    if len(buffer) < 4:
        return NeedMore(0)
    size = 4 + int.from_bytes(buffer[:4], "big")
    if len(buffer) < size:
        return NeedMore(0, frame_size=size)
    return FrameSpan(4, size, size)


def read_all(sock: Any, mgr: BufferManager, rule: Any) -> list[bytes]:
    """Every frame's payload until the end of the stream, then the partial frame it cut."""
    frames: list[bytes] = []
    while True:
        try:
            frame = read_with_rule(sock, mgr, rule)
        except StreamClosed as exc:
            return [*frames, exc.partial]  # the partial frame at the end, b"" when clean
        if frame is not None:
            with frame:
                frames.append(bytes(frame))


@pytest.mark.parametrize(
    ("rule", "payload", "stream"),
    [
        (u32_prefixed, b"p" * 256 * KiB, (256 * KiB).to_bytes(4, "big") + b"p" * 256 * KiB),
        (until_any((b"\r\n", b"\n")), b"q" * 256 * KiB, b"q" * 256 * KiB + b"\n"),
    ],
    ids=["header rule", "delimiters"],
)
def test_a_custom_rule_over_a_socket_zero_fills_about_what_arrives(
    rule: Any, payload: bytes, stream: bytes
) -> None:
    """A custom rule sees exactly the unconsumed bytes, so the spare capacity is trimmed
    before each call; the reads after it lengthen the buffer by their own size (at least 256
    bytes), not by 64 KiB each (one 256 KiB frame in 64-byte reads used to write 1 GiB of
    zeros)."""
    mgr = BufferManager()
    counter = counting(mgr)
    assert read_all(Trickle(stream, 64), mgr, rule) == [payload, b""]
    assert mgr._buf is counter
    assert counter.appended <= 5 * len(stream) + 64 * KiB, counter.appended
