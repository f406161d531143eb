"""Replaying recorded producer bytes in other chunkings, and counting a rule's scanning work."""

from __future__ import annotations

import random
import socket
from typing import SupportsIndex

from streamframer import BufferManager, FrameSpan, NeedMore, Rule


def feed_in_pieces(rule: Rule, stream: bytes, piece: int | str, *, seed: int = 0) -> list[bytes]:
    """Feed ``stream`` to a fresh manager ``piece`` bytes at a time (``"random"``: 1 to 40),
    taking every frame as soon as it is complete. Returns the payloads; the stream must end
    between frames."""
    rng = random.Random(seed)
    mgr = BufferManager()
    payloads = []
    position = 0
    while position < len(stream):
        step = rng.randint(1, 40) if piece == "random" else int(piece)
        mgr.feed(stream[position : position + step])
        position += step
        while (frame := mgr.next_frame(rule)) is not None:
            with frame:
                payloads.append(frame.tobytes())
    assert len(mgr) == 0, f"{len(mgr)} bytes left after the last frame"
    return payloads


class CountingBuffer(bytearray):
    """A bytearray that counts the bytes a rule examines through ``find``, indexing and slicing.

    Deterministic cost measurement: no timers.
    """

    examined = 0

    def find(  # type: ignore[override]
        self, sub: bytes, start: SupportsIndex = 0, end: SupportsIndex | None = None
    ) -> int:
        start = int(start)
        stop = len(self) if end is None else int(end)
        index = super().find(sub, start, stop)
        self.examined += (index + len(sub) if index >= 0 else stop) - start
        return index

    def __getitem__(self, key):  # type: ignore[no-untyped-def]
        if isinstance(key, slice):
            self.examined += len(range(*key.indices(len(self))))
        else:
            self.examined += 1
        return super().__getitem__(key)


def count_scanning(rule: Rule, stream: bytes, piece: int, buffer: CountingBuffer) -> list[bytes]:
    """Drive ``rule`` the way a manager does (append ``piece`` bytes, call with the stored scan
    position, drop consumed bytes), over ``buffer``, whose ``examined`` counts the work."""
    payloads = []
    scan = 0
    for position in range(0, len(stream), piece):
        bytearray.extend(buffer, stream[position : position + piece])
        while True:
            result = rule(buffer, scan)
            if isinstance(result, NeedMore):
                assert 0 <= result.resume <= len(buffer)
                scan = result.resume
                break
            assert isinstance(result, FrameSpan)
            start, end, consume = result
            assert 0 <= start <= end <= consume <= len(buffer)
            payloads.append(bytes(bytearray.__getitem__(buffer, slice(start, end))))
            bytearray.__delitem__(buffer, slice(0, consume))
            scan = 0
    return payloads


class Recorder:
    """A socket stand-in that keeps a copy of every byte received: ``sendall`` and ``recv_into``
    go to the real socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.received = bytearray()

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:
        received = self.sock.recv_into(buffer, nbytes, flags)
        self.received += buffer[:received]
        return received
