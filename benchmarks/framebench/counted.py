"""The workloads whose instructions are counted (``benchmarks/instructions.py``): one path over
the first ``reads`` reads of a fixed stream, run as ``python -m framebench.counted PATH READS``
under callgrind.

Every run builds the same stream (64 B frames in 64 KiB reads, 1024 frames a read), whatever
``reads`` is, so that start-up, imports and setup cost the same at every size: the counter runs
each path at two sizes and divides the difference by the difference in frames. The garbage
collector is off, as in the timed runs. The core is the one the environment selects
(``STREAMFRAMER_NO_EXTENSIONS=1`` for the pure one).
"""

from __future__ import annotations

import gc
import io
import os
import sys
import tempfile
from dataclasses import replace
from typing import Any, Callable

import streamframer
from streamframer import until_delim

from . import sf_paths
from . import workloads as w
from .sf_paths import new_manager
from .workloads import KiB, Workload

FRAME_SIZE = 64
READ_SIZE = 64 * KiB
FRAMES_PER_READ = READ_SIZE // FRAME_SIZE
#: Reads in the stream every run builds: enough for the larger of the two sizes.
STREAM_READS = 32


def _repeated(wl: Workload) -> Workload:
    """``wl`` (one read's worth of frames) read ``STREAM_READS`` times: cheap to build, even
    under callgrind. The timed benchmarks verify what is framed; these count instructions."""
    (read,) = wl.chunks
    return replace(wl, chunks=[read] * STREAM_READS)


def lines() -> Workload:
    return _repeated(w.lines("lines64", FRAMES_PER_READ, FRAME_SIZE, READ_SIZE))


def prefixed() -> Workload:
    return _repeated(w.length_prefixed("prefixed64", FRAMES_PER_READ, FRAME_SIZE, READ_SIZE))


class FakeTransport:
    """A transport with no socket: the driver hands the protocol its reads. (asyncio, which
    the peers and the asyncio paths need, is imported only by those: it is most of the start-up
    that every callgrind run would otherwise pay.)"""

    def __init__(self) -> None:
        self.paused = False

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def _drive(wl: Workload, setup: Callable[[], tuple[Any, Any]]) -> tuple[int, int]:
    """In a real event loop, ``setup()`` gives a protocol and a coroutine function a task runs;
    for each read the driver plays the transport (``get_buffer`` + ``buffer_updated``, or
    ``data_received``), then lets the loop run until the task waits for bytes again."""
    import asyncio

    loop = asyncio.new_event_loop()

    async def main() -> tuple[int, int]:
        protocol, consumer = setup()
        transport = FakeTransport()
        protocol.connection_made(transport)
        task = loop.create_task(consumer())
        buffered = isinstance(protocol, asyncio.BufferedProtocol)
        for chunk in wl.chunks:
            if transport.paused:
                raise AssertionError("reading paused with the task waiting")
            if buffered:
                view = protocol.get_buffer(len(chunk))  # type: ignore[attr-defined]
                size = min(len(chunk), len(view))
                view[:size] = chunk[:size]
                protocol.buffer_updated(size)  # type: ignore[attr-defined]
                if size < len(chunk):
                    raise AssertionError("the buffer offered is shorter than a read")
            else:
                protocol.data_received(chunk)  # type: ignore[attr-defined]
            await asyncio.sleep(0)
        protocol.eof_received()  # type: ignore[attr-defined]
        return await task  # type: ignore[no-any-return]

    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def aio_server(wl: Workload, rule: Any, measure: Callable[[Any], int]) -> tuple[int, int]:
    """A framed server connection's loop: ``async for frame in reader``."""
    from streamframer.aio import FramedProtocol

    def setup() -> tuple[Any, Any]:
        protocol = FramedProtocol(rule, new_manager(wl))
        reader = protocol.reader

        async def consumer() -> tuple[int, int]:
            frames = payload = 0
            async for frame in reader:
                frames += 1
                payload += measure(frame)
            return frames, payload

        return protocol, consumer

    return _drive(wl, setup)


def asyncio_server(wl: Workload, measure: Callable[[Any], int]) -> tuple[int, int]:
    """asyncio streams' server connection: ``StreamReaderProtocol`` and ``readuntil``."""
    import asyncio

    def setup() -> tuple[Any, Any]:
        reader = asyncio.StreamReader(limit=1 << 40)

        async def consumer() -> tuple[int, int]:
            frames = payload = 0
            readuntil = reader.readuntil
            while True:
                try:
                    line = await readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:
                        raise
                    return frames, payload
                frames += 1
                payload += measure(line) - 1

        return asyncio.StreamReaderProtocol(reader), consumer

    return _drive(wl, setup)


def _readline_loop(raw: Any, wl: Workload, measure: Callable[[Any], int]) -> tuple[int, int]:
    reader = io.BufferedReader(raw, buffer_size=wl.read_size)
    readline = reader.readline
    frames = payload = 0
    while line := readline():
        frames += 1
        payload += measure(line)
    return frames, payload - frames


def readline_bytesio(wl: Workload, measure: Callable[[Any], int]) -> tuple[int, int]:
    """``io.BufferedReader.readline`` over ``io.BytesIO``: no Python per read."""
    return _readline_loop(io.BytesIO(b"".join(wl.chunks)), wl, measure)


def readline_file(wl: Workload, measure: Callable[[Any], int]) -> tuple[int, int]:
    """``io.BufferedReader.readline`` over ``io.FileIO``, a file's own reader: the only raw
    stream whose ``closed`` the reader checks without an attribute lookup per ``readline()``
    (over any other, a socket's ``SocketIO`` or the scripted one, each call looks it up)."""
    with tempfile.TemporaryFile() as file:
        file.write(b"".join(wl.chunks))
        file.seek(0)
        return _readline_loop(io.FileIO(file.fileno(), closefd=False), wl, measure)


_Path = Callable[[Workload], "tuple[int, int]"]


def _sf(fn: Callable[..., tuple[int, int]], rule: Any = None) -> _Path:
    return lambda wl: fn(wl, until_delim(b"\n") if rule is None else rule, len)


def _peer(fn: Callable[..., tuple[int, int]]) -> _Path:
    return lambda wl: fn(wl, len)


def _peers(name: str) -> _Path:
    """A peer of framebench.peers, imported when it runs (it imports asyncio)."""

    def run(wl: Workload) -> tuple[int, int]:
        from . import peers

        return getattr(peers, name)(wl, len)  # type: ignore[no-any-return]

    return run


#: name -> (stream, the path, the peer it is compared with or None, what it does per frame)
PATHS: dict[str, tuple[Callable[[], Workload], _Path, str | None, str]] = {
    "per_frame": (
        lines,
        _sf(sf_paths.per_frame),
        "readline",
        "read_with_rule + len(frame) + consume()",
    ),
    "seed_loop": (
        lines,
        _sf(sf_paths.per_frame_bytes),
        "readline",
        "read_with_rule + bytes(frame) + consume()",
    ),
    "tobytes_loop": (
        lines,
        _sf(sf_paths.per_frame_tobytes),
        "readline",
        "read_with_rule + frame.tobytes() + consume()",
    ),
    "sans_io": (lines, _sf(sf_paths.sans_io), "readline", "feed + next_frame + consume()"),
    "iter_frames": (lines, _sf(sf_paths.iterator), "readline", "for frame in iter_frames"),
    "iter_payloads": (lines, _sf(sf_paths.payloads), "readline", "for data in iter_payloads"),
    "drain": (lines, _sf(sf_paths.drain), "split", "feed + drain"),
    "custom_rule": (
        prefixed,
        _sf(sf_paths.per_frame, sf_paths.u32_prefixed),
        None,
        "read_with_rule + consume(), a user-written length-prefix rule",
    ),
    "aio_server": (
        lines,
        _sf(aio_server),
        "asyncio_server",
        "asyncio server connection, async for frame in reader",
    ),
    # The peers
    "readline": (
        lines,
        _peers("buffered_readline"),
        None,
        "io.BufferedReader.readline, a Python raw stream (as timed)",
    ),
    "readline_file": (
        lines,
        _peer(readline_file),
        None,
        "io.BufferedReader.readline over a file (io.FileIO)",
    ),
    "readline_bytesio": (
        lines,
        _peer(readline_bytesio),
        None,
        "io.BufferedReader.readline over io.BytesIO",
    ),
    "asyncio_readuntil": (
        lines,
        _peers("asyncio_readuntil"),
        None,
        "asyncio StreamReader.readuntil, fed directly",
    ),
    "asyncio_server": (
        lines,
        _peer(asyncio_server),
        None,
        "asyncio streams server connection, readuntil",
    ),
    "split": (lines, _peers("split_floor"), None, "bytes.split of the joined stream"),
}


def main(argv: list[str]) -> int:
    """``PATH SMALL LARGE``: the path over the first SMALL reads (a warm-up), again, then over
    the first LARGE reads, with ``os.getppid()`` after each: callgrind, told to dump its counts
    before that function, then holds each run's instructions in a file of its own."""
    name, small, large = argv[0], int(argv[1]), int(argv[2])
    stream, path, _, _ = PATHS[name]
    whole = stream()
    gc.disable()
    for reads in (small, small, large):
        frames, _ = path(replace(whole, chunks=whole.chunks[:reads]))
        os.getppid()
        if frames != reads * FRAMES_PER_READ:
            print(f"{name}: {frames} frames, expected {reads * FRAMES_PER_READ}", file=sys.stderr)
            return 1
    print(streamframer.IMPLEMENTATION)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
