"""Memory: the tracemalloc peak while framing a long stream of large frames, and what an idle
manager costs.

The stream is made on the fly from one frame allocated before tracing starts, so the peak is the
framer's own: its buffer, its read reservations, the objects it makes per frame. The sources
that ``recv_into`` copy straight into the manager's buffer and allocate nothing; the ones that
``feed`` hand over a fresh ``bytes`` per read, as a transport does. Frames are one byte longer
than a power of two (payload plus ``b"\\n"``), so reads never line up with frame boundaries.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable

from streamframer import (
    BufferManager,
    StreamClosed,
    iter_frames,
    iter_payloads,
    read_with_rule,
    until_delim,
)

from .peers import drive_stream_reader
from .workloads import text_payload

_RULE = until_delim(b"\n")


@dataclass
class Peak:
    name: str
    peak: int
    #: What the manager still holds once every frame is consumed (recv_into paths only).
    retained: int | None
    error: str | None = None


class PatternSource:
    """A fake socket that delivers ``count`` copies of ``frame`` without allocating them."""

    def __init__(self, frame: bytes, count: int) -> None:
        self._frame = memoryview(frame)
        self._left = len(frame) * count
        self._offset = 0

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        room = min(len(buffer), self._left)
        done = 0
        frame = self._frame
        with memoryview(buffer) as target:
            while done < room:
                size = min(room - done, len(frame) - self._offset)
                target[done : done + size] = frame[self._offset : self._offset + size]
                done += size
                self._offset = (self._offset + size) % len(frame)
        self._left -= done
        return done


def pattern_chunks(frame: bytes, count: int, read_size: int) -> Iterator[bytes]:
    """The same stream as :class:`PatternSource`, as one new ``bytes`` per read."""
    source = PatternSource(frame, count)
    while True:
        chunk = bytearray(read_size)
        size = source.recv_into(chunk)
        if not size:
            return
        yield bytes(memoryview(chunk)[:size])


def _per_frame(source: PatternSource, mgr: BufferManager) -> int:
    frames = 0
    try:
        while True:
            frame = read_with_rule(source, mgr, _RULE)
            if frame is not None:
                frames += 1
                frame.consume()
    except StreamClosed as exc:
        if exc.partial:
            raise
    return frames


def _iter_frames(source: PatternSource, mgr: BufferManager) -> int:
    return sum(1 for _ in iter_frames(source, mgr, _RULE))


def _iter_payloads(source: PatternSource, mgr: BufferManager) -> int:
    return sum(1 for _ in iter_payloads(source, mgr, _RULE))


def _feed(chunks: Iterator[bytes], mgr: BufferManager) -> int:
    frames = 0
    for chunk in chunks:
        mgr.feed(chunk)
        while (frame := mgr.next_frame(_RULE)) is not None:
            frames += 1
            frame.consume()
    return frames


def _asyncio(chunks: Iterator[bytes]) -> int:
    async def consume(reader: asyncio.StreamReader) -> int:
        frames = 0
        while True:
            try:
                await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                return frames
            frames += 1

    frames: int = drive_stream_reader(chunks, consume)
    return frames


SF_PER_FRAME = "streamframer per-frame: read_with_rule + consume"
_RECV_PATHS: list[tuple[str, Callable[[PatternSource, BufferManager], int]]] = [
    (SF_PER_FRAME, _per_frame),
    ("streamframer iterator: iter_frames", _iter_frames),
    ("streamframer batch: iter_payloads (a copy per frame)", _iter_payloads),
]


def _traced(fn: Callable[[], Any]) -> tuple[Any, int, int]:
    """Run ``fn`` under tracemalloc: (its result, peak bytes, bytes still held at the end)."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result, keep = fn()
        current, peak = tracemalloc.get_traced_memory()
        del keep
        return result, peak - base, current - base
    finally:
        if not was_tracing:
            tracemalloc.stop()


def peaks(payload_size: int, stream_size: int, read_size: int) -> tuple[list[Peak], int]:
    """The peak of each path over ``stream_size`` bytes of frames with ``payload_size``-byte
    payloads, and the bound to compare it with (largest frame + 2 x read size)."""
    frame = text_payload(payload_size, 0) + b"\n"
    count = max(1, stream_size // len(frame))
    bound = len(frame) + 2 * read_size
    results = []

    def new_manager() -> BufferManager:
        return BufferManager(max(len(frame), 1 << 24), read_size=read_size)

    for name, path in _RECV_PATHS:
        source = PatternSource(frame, count)

        def run(path: Any = path, source: PatternSource = source) -> tuple[int, Any]:
            mgr = new_manager()
            return path(source, mgr), mgr

        results.append(_peak(name, run, count, retained=True))
    for name, fn in (
        ("streamframer sans-IO: feed + next_frame", lambda c: _feed(c, new_manager())),
        ("asyncio StreamReader.readuntil", _asyncio),
    ):

        def run_fed(fn: Any = fn) -> tuple[int, None]:
            return fn(pattern_chunks(frame, count, read_size)), None

        results.append(_peak(name, run_fed, count, retained=False))
    return results, bound


def _peak(name: str, run: Callable[[], Any], count: int, retained: bool) -> Peak:
    try:
        frames, peak, held = _traced(run)
    except Exception as exc:
        return Peak(name, 0, None, f"{type(exc).__name__}: {exc}")
    if frames != count:
        return Peak(name, peak, None, f"{name}: framed {frames} frames, expected {count}")
    return Peak(name, peak, held if retained else None)


def idle_manager_bytes(count: int = 1000) -> float:
    """Bytes allocated per ``BufferManager()``, averaged over ``count`` idle managers."""
    managers: list[Any] = [None] * count

    def make() -> tuple[None, list[Any]]:
        for index in range(count):
            managers[index] = BufferManager()
        return None, managers

    _, _, held = _traced(make)
    return held / count
