"""Soak: thousands of concurrent asyncio connections, fragmented lines, then a slowloris.

    python benchmarks/soak.py                  # 10,000 connections, both modes: a minute or two
    python benchmarks/soak.py --quick          # 1,000 connections
    python benchmarks/soak.py --mode slowloris --connections 2000
    python benchmarks/soak.py --baseline       # asyncio.start_server + readline(), for contrast

The server is this process: ``streamframer.aio.start_framed_server`` with ``until_delim(b"\\n")``
(``--baseline``: ``asyncio.start_server`` and ``StreamReader.readline()``). The clients are one
subprocess with a blocking socket per connection. Each connection carries ``--lines`` lines of
64 bytes, each line naming its connection and number, so the server checks every frame: whole,
in order, on the right connection.

* ``fragmented``: the lines cut into pieces of 1 to ``--fragment`` bytes (seeded), sent
  round-robin across the connections.
* ``slowloris``: one byte per connection per step, with ``--pause`` seconds between steps.

In both modes the clients stop halfway through each connection's first line until the server
has measured its memory with a partial line held on every connection; then they send the rest,
the server waits until every line is framed and measures again (idle connections), and the
clients close. Memory per connection is the growth since before the first connection, divided
by the number of connections: the Python heap (tracemalloc, split by who allocated it) and the
resident set size (RSS, less what tracemalloc itself holds). Bounded in count (connections x
lines) and in time (``--timeout`` per mode); it stops by itself and exits 1 on any error: a
wrong, missing or partial frame, a handler that failed, a client that could not send.

Connections need a descriptor each in both processes: the soft ``RLIMIT_NOFILE`` is raised to the
hard limit, and with a lower hard limit fewer connections run (the report says how many).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framebench.soak_clients import LINE_SIZE, descriptors, line

import streamframer
from streamframer import StreamClosed, until_delim
from streamframer.aio import FramedReader, FramedWriter, start_framed_server

BENCHMARKS_DIR = Path(__file__).resolve().parent
PACKAGE = str(Path(streamframer.__file__).parent)
ASYNCIO = str(Path(asyncio.__file__).parent)


@dataclass
class Config:
    mode: str
    connections: int
    lines: int
    fragment: int = 7
    pause: float = 0.02
    timeout: float = 300.0
    baseline: bool = False


# ------------------------------------------------------------------------------------------------
# The server (this process)


@dataclass
class Memory:
    """Growth per connection since before the first connection."""

    heap: float  # tracemalloc
    rss: float  # resident set size, less tracemalloc's own bookkeeping
    by_category: dict[str, float] = field(default_factory=dict)


@dataclass
class Report:
    config: Config
    frames: int = 0
    expected: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    held: Memory | None = None
    idle: Memory | None = None


class Tally:
    """Checks every frame, counts them, and keeps the readers (to see what they buffer)."""

    def __init__(self, config: Config, report: Report) -> None:
        self.config = config
        self.report = report
        self.readers: list[Any] = []
        self.open = 0
        self.all_framed = asyncio.Event()
        self.all_closed = asyncio.Event()

    def started(self, reader: Any) -> None:
        self.readers.append(reader)
        self.open += 1

    def ended(self) -> None:
        self.open -= 1
        if self.open == 0:
            self.all_closed.set()

    def error(self, message: str) -> None:
        if len(self.report.errors) < 20:  # the first ones say what went wrong
            self.report.errors.append(message)
        else:
            self.report.errors[-1] = f"... and more ({message})"

    def frame(self, payload: bytes, state: list[int]) -> None:
        """``state`` is [connection, next line number] of the connection, -1 before its first."""
        if state[0] < 0:
            state[0] = int(payload.split(b":", 1)[0])
        expected = line(state[0], state[1])[:-1]
        if payload != expected:
            self.error(f"connection {state[0]} line {state[1]}: got {payload[:80]!r}")
        state[1] += 1
        self.report.frames += 1
        if self.report.frames == self.report.expected:
            self.all_framed.set()


async def start_server(tally: Tally) -> asyncio.AbstractServer:
    backlog = tally.config.connections

    async def framed(reader: FramedReader, writer: FramedWriter) -> None:
        tally.started(reader)
        state = [-1, 0]
        try:
            async for frame in reader:
                tally.frame(bytes(frame), state)
        except StreamClosed as exc:
            tally.error(f"connection {state[0]} ended inside a line: {exc.partial[:80]!r}")
        except Exception as exc:  # whatever it is, it is counted and reported
            tally.error(f"connection {state[0]}: {type(exc).__name__}: {exc}")
        finally:
            tally.ended()

    async def streams(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tally.started(reader)
        state = [-1, 0]
        try:
            while data := await reader.readline():
                if not data.endswith(b"\n"):
                    tally.error(f"connection {state[0]} ended inside a line: {data[:80]!r}")
                    break
                tally.frame(data[:-1], state)
        except Exception as exc:
            tally.error(f"connection {state[0]}: {type(exc).__name__}: {exc}")
        finally:
            writer.close()
            tally.ended()

    if tally.config.baseline:
        return await asyncio.start_server(streams, "127.0.0.1", 0, backlog=backlog)
    return await start_framed_server(framed, "127.0.0.1", 0, until_delim(b"\n"), backlog=backlog)


def buffered(reader: Any) -> int:
    if isinstance(reader, FramedReader):
        return len(reader.manager)
    return len(reader._buffer)  # asyncio.StreamReader's, private: this is a benchmark


def rss() -> int:
    """Resident set size in bytes (Linux), or 0 where ``/proc`` does not say."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


@dataclass
class Baseline:
    snapshot: tracemalloc.Snapshot
    heap: int
    rss: int
    bookkeeping: int


def measure_base() -> Baseline:
    gc.collect()
    snapshot = tracemalloc.take_snapshot()
    heap = tracemalloc.get_traced_memory()[0]
    return Baseline(snapshot, heap, rss(), tracemalloc.get_tracemalloc_memory())


def measure_growth(base: Baseline, connections: int) -> Memory:
    gc.collect()
    heap = tracemalloc.get_traced_memory()[0]
    resident = rss() - (tracemalloc.get_tracemalloc_memory() - base.bookkeeping)
    snapshot = tracemalloc.take_snapshot()
    by_category: dict[str, float] = {}
    for stat in snapshot.compare_to(base.snapshot, "traceback"):
        category = categorize(stat.traceback)
        by_category[category] = by_category.get(category, 0) + stat.size_diff / connections
    growth = (resident - base.rss) / connections if base.rss else float("nan")
    return Memory((heap - base.heap) / connections, growth, by_category)


def categorize(traceback: tracemalloc.Traceback) -> str:
    """Who asked for the memory: the innermost streamframer line on the way (the future a
    reader awaits is made by asyncio for streamframer), else the innermost line."""
    for frame in reversed(traceback):  # innermost first
        if frame.filename.startswith(PACKAGE):
            source = Path(frame.filename).read_text().splitlines()[frame.lineno - 1]
            if "create_task" in source or "_handler(" in source:
                return "handler task"
            return "streamframer objects"
    filename = traceback[-1].filename
    if filename.startswith(ASYNCIO) or filename.endswith(("socket.py", "selectors.py")):
        return "asyncio transport and socket"
    return "other"


async def until(condition: Any, deadline: float, what: str) -> None:
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.01)


async def soak(config: Config) -> Report:
    """One mode, start to end: the report says what was framed, what went wrong, and memory."""
    report = Report(config, expected=config.connections * config.lines)
    tally = Tally(config, report)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(
        lambda _, context: tally.error(f"{context['message']}: {context.get('exception')!r}")
    )
    tracemalloc.start(8)
    started = time.monotonic()
    deadline = started + config.timeout
    clients = None
    try:
        server = await start_server(tally)
        port = server.sockets[0].getsockname()[1]
        base = measure_base()
        clients = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "framebench.soak_clients",
            *map(str, (port, config.mode, config.connections, config.lines)),
            *map(str, (config.fragment, config.pause)),
            cwd=BENCHMARKS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert clients.stdin is not None
        assert clients.stdout is not None
        half = config.connections * (LINE_SIZE // 2)  # where the clients stop for a moment
        await expect(clients.stdout, b"held", deadline)

        def holding() -> bool:
            return (
                len(tally.readers) == config.connections
                and sum(map(buffered, tally.readers)) == half
            )

        await until(holding, deadline, "waiting for every connection's partial line")
        report.held = measure_growth(base, config.connections)
        clients.stdin.write(b"go\n")
        await expect(clients.stdout, b"sent", deadline)
        await asyncio.wait_for(tally.all_framed.wait(), max(0.0, deadline - time.monotonic()))
        for _ in range(10):
            await asyncio.sleep(0)  # let every handler get back to waiting
        report.idle = measure_growth(base, config.connections)
        clients.stdin.write(b"close\n")
        await expect(clients.stdout, b"closed", deadline)
        await asyncio.wait_for(tally.all_closed.wait(), max(0.0, deadline - time.monotonic()))
        server.close()
        await server.wait_closed()
    except (TimeoutError, asyncio.TimeoutError) as exc:
        tally.error(f"timed out after {config.timeout} s: {exc or 'waiting for the frames'}")
    except RuntimeError as exc:  # the clients said something unexpected (or died)
        tally.error(str(exc))
    finally:
        tracemalloc.stop()
        if clients is not None:
            if clients.returncode is None:
                clients.kill()
            if await clients.wait() not in (0, -9):
                tally.error(f"the clients failed (exit status {clients.returncode})")
    report.seconds = time.monotonic() - started
    if report.frames != report.expected:
        tally.error(f"{report.frames} frames of {report.expected}")
    return report


async def expect(stream: asyncio.StreamReader, word: bytes, deadline: float) -> None:
    got = await asyncio.wait_for(stream.readline(), max(0.0, deadline - time.monotonic()))
    if got.strip() != word:
        raise RuntimeError(f"the clients said {got!r}, not {word!r}")


# ------------------------------------------------------------------------------------------------


def table(reports: Sequence[Report]) -> str:
    def size(value: float | None) -> str:
        return "-" if value is None or value != value else f"{value:,.0f} B"

    rows = [
        "| mode | server | connections | lines each | frames | errors | time | "
        "heap / conn, line held | RSS / conn, line held | heap / conn, idle | RSS / conn, idle |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in reports:
        c = r.config
        server = "asyncio streams" if c.baseline else "streamframer.aio"
        held, idle = r.held, r.idle
        rows.append(
            f"| {c.mode} | {server} | {c.connections:,} | {c.lines} | {r.frames:,} | "
            f"{len(r.errors)} | {r.seconds:.1f} s | {size(held and held.heap)} | "
            f"{size(held and held.rss)} | {size(idle and idle.heap)} | {size(idle and idle.rss)} |"
        )
    return "\n".join(rows)


def categories(report: Report) -> str:
    rows = ["| Python heap per connection (tracemalloc) | line held | idle |", "|---|---:|---:|"]
    held = report.held.by_category if report.held else {}
    idle = report.idle.by_category if report.idle else {}
    for name in sorted(set(held) | set(idle), key=lambda n: -idle.get(n, 0)):
        rows.append(f"| {name} | {held.get(name, 0):,.0f} B | {idle.get(name, 0):,.0f} B |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["fragmented", "slowloris", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="1,000 connections")
    parser.add_argument("--connections", type=int, help="default 10,000 (1,000 with --quick)")
    parser.add_argument("--lines", type=int, help="per connection: 5 fragmented, 2 slowloris")
    parser.add_argument("--fragment", type=int, default=7, help="largest piece, fragmented mode")
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between slowloris steps")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mode")
    parser.add_argument("--baseline", action="store_true", help="asyncio streams, for contrast")
    args = parser.parse_args(argv)
    modes = ["fragmented", "slowloris"] if args.mode == "both" else [args.mode]
    wanted = args.connections or (1000 if args.quick else 10_000)
    configs = [
        Config(
            mode,
            wanted,
            args.lines or (5 if mode == "fragmented" else 2),
            args.fragment,
            args.pause,
            args.timeout,
            args.baseline,
        )
        for mode in modes
    ]
    connections = descriptors(wanted)
    if connections < wanted:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        print(f"{connections:,} connections, not {wanted:,}: the descriptor hard limit is {hard:,}")
    reports = []
    for config in configs:
        config.connections = connections
        print(f"[{config.mode}] {connections:,} connections", file=sys.stderr, flush=True)
        reports.append(asyncio.run(soak(config)))
    python = f"{sys.implementation.name} {sys.version.split()[0]}"
    print(
        f"streamframer {streamframer.__version__} ({streamframer.IMPLEMENTATION} core), {python}\n"
    )
    print(table(reports) + "\n")
    for report in reports:
        print(f"{report.config.mode}:\n\n{categories(report)}\n")
        for error in report.errors:
            print(f"error: {error}")
    return 1 if any(r.errors for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
