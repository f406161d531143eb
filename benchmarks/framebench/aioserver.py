"""An asyncio line server: N connections fed by clients in another process, server CPU per frame.

The clients (:mod:`framebench.aio_clients`) run in a subprocess with every byte built before the
first run; each run starts a fresh event loop and server in this process, tells the clients its
port, and waits until every connection has ended. What is timed is this process's CPU time from
then until the last connection ends (``time.process_time``: the clients' work, and time the
machine gives to others, are not charged), so it covers the loop, the transports, the framing
and the handlers: what a server spends per frame. Each server counts the frames and payload
bytes of every connection; the counts are checked after every run.

Rows: asyncio streams' ``readuntil`` (the baseline), Twisted's ``LineOnlyReceiver`` on its
asyncio reactor, each streamframer way, and the same on uvloop where it is installed.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Callable

from streamframer import until_delim
from streamframer.aio import FramedReader, FramedWriter, start_framed_server

from . import report
from .aio_clients import LINE_SIZE
from .loopback import BENCHMARKS_DIR
from .timing import Expected, Result, check, describe, gc_off, ratio

ASYNCIO = "asyncio streams: readuntil"
TWISTED = "Twisted LineOnlyReceiver, asyncio reactor"
SF_ASYNC_FOR = "streamframer: async for frame in reader"
SF_BATCHES = "streamframer: async for batch in reader.batches()"
_LINE = until_delim(b"\n")


class Tally:
    """Frames and payload bytes of the connections that ended; ``finished`` once all have."""

    def __init__(self, connections: int) -> None:
        self.frames = self.payload_bytes = 0
        self.left = connections
        self.finished = asyncio.get_running_loop().create_future()

    def done(self, frames: int, payload_bytes: int) -> None:
        self.frames += frames
        self.payload_bytes += payload_bytes
        self.left -= 1
        if not self.left:
            self.finished.set_result(None)


# Each server starts listening on 127.0.0.1 and returns (port, stop).
Start = Callable[[Tally], Awaitable["tuple[int, Callable[[], Any]]"]]


async def asyncio_streams(tally: Tally) -> tuple[int, Callable[[], Any]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = size = 0
        try:
            while True:
                line = await reader.readuntil(b"\n")
                frames += 1
                size += len(line) - 1
        except asyncio.IncompleteReadError:
            pass
        tally.done(frames, size)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server.sockets[0].getsockname()[1], server.close


async def twisted_lines(tally: Tally) -> tuple[int, Callable[[], Any]]:
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor
    from twisted.internet.protocol import Factory
    from twisted.protocols.basic import LineOnlyReceiver

    class Lines(LineOnlyReceiver):  # type: ignore[misc]
        delimiter = b"\n"
        frames = size = 0

        def lineReceived(self, line: bytes) -> None:
            self.frames += 1
            self.size += len(line)

        def connectionLost(self, reason: object = None) -> None:
            tally.done(self.frames, self.size)

    reactor = AsyncioSelectorReactor(asyncio.get_running_loop())
    port = reactor.listenTCP(0, Factory.forProtocol(Lines), interface="127.0.0.1")
    return port.getHost().port, port.stopListening


async def sf_async_for(tally: Tally) -> tuple[int, Callable[[], Any]]:
    async def handle(reader: FramedReader, writer: FramedWriter) -> None:
        frames = size = 0
        async for frame in reader:
            frames += 1
            size += len(frame)
        tally.done(frames, size)

    server = await start_framed_server(handle, "127.0.0.1", 0, _LINE)
    return server.sockets[0].getsockname()[1], server.close


async def sf_batches(tally: Tally) -> tuple[int, Callable[[], Any]]:
    async def handle(reader: FramedReader, writer: FramedWriter) -> None:
        frames = size = 0
        async for batch in reader.batches():
            frames += len(batch)
            for payload in batch:
                size += len(payload)
        tally.done(frames, size)

    server = await start_framed_server(handle, "127.0.0.1", 0, _LINE)
    return server.sockets[0].getsockname()[1], server.close


@dataclass(frozen=True)
class Server:
    name: str
    start: Start
    role: str
    loop: str  # "asyncio" or "uvloop"


SERVERS = [
    Server(ASYNCIO, asyncio_streams, "peer", "asyncio"),
    Server(TWISTED, twisted_lines, "peer", "asyncio"),
    Server(SF_ASYNC_FOR, sf_async_for, "streamframer", "asyncio"),
    Server(SF_BATCHES, sf_batches, "streamframer", "asyncio"),
    Server(f"{ASYNCIO}, uvloop", asyncio_streams, "peer", "uvloop"),
    Server(f"{SF_ASYNC_FOR}, uvloop", sf_async_for, "streamframer", "uvloop"),
    Server(f"{SF_BATCHES}, uvloop", sf_batches, "streamframer", "uvloop"),
]


class Clients:
    """The client subprocess: ``go(port)`` sends every connection's lines to that port."""

    def __init__(self, connections: int, lines: int) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "framebench.aio_clients", str(connections), str(lines)],
            cwd=BENCHMARKS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._expect("ready")

    def _expect(self, word: str) -> None:
        assert self._process.stdout is not None
        said = self._process.stdout.readline().strip()
        if said != word:
            self.close()
            raise RuntimeError(f"the clients said {said!r}, not {word!r}")

    def go(self, port: int) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(f"{port}\n")
        self._process.stdin.flush()

    def wait_sent(self) -> None:
        self._expect("sent")

    def close(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            try:
                self._process.stdin.write("\n")
                self._process.stdin.close()
                self._process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def _new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _timed_run(server: Server, clients: Clients, connections: int) -> tuple[float, int, int]:
    async def main() -> tuple[float, int, int]:
        tally = Tally(connections)
        port, stop = await server.start(tally)
        start = time.process_time()
        clients.go(port)
        await tally.finished
        elapsed = time.process_time() - start
        stop()
        return elapsed, tally.frames, tally.payload_bytes

    loop = _new_loop(server.loop)
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()
        clients.wait_sent()


def _available(server: Server) -> str | None:
    """Why ``server`` cannot run here (``None``: it can)."""
    needs = {TWISTED: "twisted"}.get(server.name) or ("uvloop" if server.loop == "uvloop" else "")
    if needs:
        try:
            __import__(needs)
        except ImportError:
            return "not installed"
    return None


def measure(connections: int, lines: int, rounds: int) -> tuple[str, list[Result]]:
    """Every server on ``lines`` lines over ``connections`` connections, ``rounds`` interleaved
    rounds of server CPU time."""
    title = f"asyncio server, {connections} connections, {lines} lines of {LINE_SIZE} B"
    stream_bytes = LINE_SIZE * lines
    expected = Expected(lines, (LINE_SIZE - 1) * lines, stream_bytes)
    results = []
    for server in SERVERS:
        result = Result("aioserver", "aioserver", server.name, server.role, stream_bytes)
        result.note = _available(server)
        results.append(result)
    clients = Clients(connections, lines)
    try:
        for _ in range(rounds):
            for server, result in zip(SERVERS, results):
                if result.error is not None or result.note is not None:
                    continue
                try:
                    with gc_off():
                        elapsed, *got = _timed_run(server, clients, connections)
                    result.record((got[0], got[1]))
                    check(server.name, server.role, expected, (got[0], got[1]))
                except Exception as exc:
                    result.error = describe(exc)
                    continue
                result.times.append(elapsed)
    finally:
        clients.close()
    return title, results


def table(results: Sequence[Result]) -> str:
    """Server CPU per frame, and how many times less than asyncio streams' on the same loop."""
    base = {
        loop: next((r for r in results if r.impl == name and r.best), None)
        for loop, name in (("asyncio", ASYNCIO), ("uvloop", f"{ASYNCIO}, uvloop"))
    }
    rows = []
    for result in results:
        loop = "uvloop" if result.impl.endswith(", uvloop") else "asyncio"
        if result.error is not None or result.best is None:
            why = f"**WRONG**: {result.error}" if result.error else result.note or "-"
            rows.append([result.impl, loop, why, "", "", "", ""])
            continue
        frames = result.frames or 1
        ref = base["asyncio"]
        found = ratio(result, ref) if ref is not None else None
        rows.append(
            [
                result.impl,
                loop,
                f"{(result.median or 0.0) / frames * 1e9:.0f}",
                f"{result.best / frames * 1e9:.0f}",
                report.rate(result.frames_per_s),
                "-" if found is None else f"{found.median:.2f}",
                "-" if found is None else f"{found.best:.2f}",
            ]
        )
    header = ["implementation", "loop", "CPU ns/frame", "best", "frames/s of CPU"]
    return report.table([*header, "x asyncio streams", "best"], rows, numeric=5)
