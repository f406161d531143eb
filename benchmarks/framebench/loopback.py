"""Loopback TCP: lines sent by another process, framed by each reader as they arrive.

The sender (:mod:`framebench.sender`) runs in a subprocess and has every stream ready before the
first connection. Each timed run connects, asks for a stream, and is timed from the moment the
request is sent until the reader has seen the end of the stream; frames and payload bytes are
checked after every run. The raw ``recv_into`` baseline moves the same bytes into a 64 KiB buffer
without framing them: what the socket itself can deliver.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from streamframer import (
    BufferManager,
    StreamClosed,
    iter_frames,
    iter_payloads,
    read_with_rule,
    until_delim,
)

from .timing import Expected, Result, check, describe, gc_off
from .workloads import size_name

BENCHMARKS_DIR = Path(__file__).resolve().parent.parent
READ_SIZE = 64 * 1024
_RULE = until_delim(b"\n")


class Sender:
    """The sender subprocess, started with every (frame size, count) it will be asked for."""

    def __init__(self, configs: list[tuple[int, int]]) -> None:
        args = [f"{size}:{count}" for size, count in configs]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "framebench.sender", *args],
            cwd=BENCHMARKS_DIR,
            stdout=subprocess.PIPE,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self.close()
            raise RuntimeError(f"the sender did not start (it said {line!r})")
        self.port = int(line)

    def request(self, frame_size: int, count: int) -> tuple[socket.socket, float]:
        """A connection on which the stream is coming, and the time it was asked for."""
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.sendall(b"%d %d\n" % (frame_size, count))
        return sock, time.perf_counter()

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                    sock.sendall(b"quit\n")
                self._process.wait(timeout=10)
            except (OSError, AttributeError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


# Each reader takes the socket the stream arrives on and returns (frames, payload bytes).


def raw_recv_into(sock: socket.socket) -> tuple[int, int]:
    buffer = bytearray(READ_SIZE)
    recv_into = sock.recv_into
    total = 0
    while received := recv_into(buffer):
        total += received
    return 0, total


def makefile_readline(sock: socket.socket) -> tuple[int, int]:
    frames = payload = 0
    with sock.makefile("rb", buffering=READ_SIZE) as stream:
        readline = stream.readline
        while line := readline():
            frames += 1
            payload += len(line)
    return frames, payload - frames


def sf_per_frame(sock: socket.socket) -> tuple[int, int]:
    mgr = BufferManager(read_size=READ_SIZE)
    frames = payload = 0
    try:
        while True:
            frame = read_with_rule(sock, mgr, _RULE)
            if frame is None:
                continue
            frames += 1
            payload += len(frame)
            frame.consume()
    except StreamClosed as exc:
        if exc.partial:
            raise
    return frames, payload


def sf_iter_frames(sock: socket.socket) -> tuple[int, int]:
    frames = payload = 0
    for frame in iter_frames(sock, BufferManager(read_size=READ_SIZE), _RULE):
        frames += 1
        payload += len(frame)
    return frames, payload


def sf_iter_payloads(sock: socket.socket) -> tuple[int, int]:
    frames = payload = 0
    for data in iter_payloads(sock, BufferManager(read_size=READ_SIZE), _RULE):
        frames += 1
        payload += len(data)
    return frames, payload


async def _asyncio_readuntil(port: int, frame_size: int, count: int) -> tuple[float, int, int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 24)
    writer.write(b"%d %d\n" % (frame_size, count))
    start = time.perf_counter()
    readuntil = reader.readuntil
    frames = payload = 0
    while True:
        try:
            line = await readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            break
        frames += 1
        payload += len(line)
    elapsed = time.perf_counter() - start
    writer.close()
    await writer.wait_closed()
    return elapsed, frames, payload - frames


SF_PER_FRAME = "streamframer per-frame: read_with_rule + consume"
ASYNCIO = "asyncio open_connection + readuntil"
READLINE = "socket.makefile('rb').readline (C)"
RAW = "raw socket.recv_into (no framing)"
_Reader = Callable[[socket.socket], "tuple[int, int]"]
_READERS: list[tuple[str, _Reader | None, str]] = [
    (SF_PER_FRAME, sf_per_frame, "streamframer"),
    ("streamframer iterator: iter_frames", sf_iter_frames, "streamframer"),
    ("streamframer batch: iter_payloads", sf_iter_payloads, "streamframer"),
    (ASYNCIO, None, "peer"),
    (READLINE, makefile_readline, "peer"),
    (RAW, raw_recv_into, "baseline"),
]


def _timed_run(
    sender: Sender, reader: _Reader | None, frame_size: int, count: int
) -> tuple[float, tuple[int, int]]:
    if reader is None:
        elapsed, frames, payload = asyncio.run(_asyncio_readuntil(sender.port, frame_size, count))
        return elapsed, (frames, payload)
    sock, start = sender.request(frame_size, count)
    with sock:
        got = reader(sock)
        return time.perf_counter() - start, got


def measure(
    sender: Sender, key: str, frame_size: int, count: int, rounds: int
) -> tuple[str, list[Result]]:
    """Time every reader on ``count`` lines of ``frame_size`` bytes, ``rounds`` interleaved
    rounds (wall time: the reader waits on the socket)."""
    title = f"{size_name(frame_size)} lines over loopback TCP"
    # The raw baseline frames nothing: it counts 0 frames and every byte of the stream.
    stream_bytes = frame_size * count
    expected = Expected(count, (frame_size - 1) * count, stream_bytes)
    results = [Result("loopback", key, name, role, stream_bytes) for name, _, role in _READERS]
    for _ in range(rounds):
        for (name, reader, role), result in zip(_READERS, results):
            if result.error is not None:
                continue
            try:
                with gc_off():
                    elapsed, got = _timed_run(sender, reader, frame_size, count)
                result.record(got)
                check(name, role, expected, got)
            except Exception as exc:
                result.error = describe(exc)
                continue
            result.times.append(elapsed)
    return title, results
