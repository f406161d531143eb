"""Many concurrent connections on one asyncio loop: does every line arrive, and what does an idle
connection cost?

The server (this process) frames every connection with ``streamframer.aio.start_framed_server``;
a client process opens ``--connections`` loopback connections and sends ``--lines`` lines on
each, cut into ``--fragment``-byte pieces sent round-robin across connections. Once every line
is framed and all connections sit idle (buffers empty, handlers waiting), ``tracemalloc``
compares the server's Python heap with the one before the clients came, per connection:

* streamframer's objects: the protocol, its manager and buffer, the reader, the writer and the
  future a waiting reader awaits;
* the handler task: the task and coroutines the server helper runs per connection;
* asyncio's transport and the socket object: the part any asyncio server pays;

and ``--baseline`` measures ``asyncio.start_server`` with ``StreamReader.readline()`` the same way.

Run: ``python benchmarks/aio_connections.py --connections 2000`` (needs about 2 descriptors per
connection across the two processes; the soft ``ulimit -n`` is raised to the hard one).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import socket
import subprocess
import sys
import tracemalloc
from pathlib import Path

import streamframer
from streamframer import until_delim
from streamframer.aio import FramedReader, FramedWriter, start_framed_server

PACKAGE = str(Path(streamframer.__file__).parent)
ASYNCIO = str(Path(asyncio.__file__).parent)
LINE = until_delim(b"\n")


def line(connection: int, number: int) -> bytes:
    return b"connection %d line %d " % (connection, number) + b"x" * 40 + b"\n"


def raise_descriptor_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            sys.exit(f"ulimit -n: {needed} descriptors needed, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def run_clients(port: int, connections: int, lines: int, fragment: int) -> None:
    """Client process: connect, send every line in fragments round-robin, then wait for stdin
    to close before closing (so that the server measures idle connections)."""
    raise_descriptor_limit(connections + 64)
    socks = []
    for _ in range(connections):
        socks.append(socket.create_connection(("127.0.0.1", port)))
    streams = [b"".join(line(c, n) for n in range(lines)) for c in range(connections)]
    for start in range(0, max(map(len, streams)), fragment):
        for sock, stream in zip(socks, streams):
            if start < len(stream):
                sock.sendall(stream[start : start + fragment])
    print("sent", flush=True)
    sys.stdin.read()
    for sock in socks:
        sock.close()


class Tally:
    """Counts frames across connections; ``done`` is set once all expected frames came."""

    def __init__(self, expected: int) -> None:
        self.frames = 0
        self.bad = 0
        self.expected = expected
        self.done = asyncio.Event()

    def count(self, good: bool) -> None:
        self.frames += 1
        self.bad += not good
        if self.frames == self.expected:
            self.done.set()


async def serve(args: argparse.Namespace, baseline: bool) -> dict[str, float]:
    tally = Tally(args.connections * args.lines)
    first_line = b"connection "

    async def framed(reader: FramedReader, writer: FramedWriter) -> None:
        async for frame in reader:
            tally.count(frame.view[: len(first_line)] == first_line)

    async def streams(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = await reader.readline()
            if not data:
                break
            tally.count(data.startswith(first_line))
        writer.close()

    gc.collect()
    tracemalloc.start(8)
    if baseline:
        server = await asyncio.start_server(streams, "127.0.0.1", 0, backlog=args.connections)
    else:
        server = await start_framed_server(framed, "127.0.0.1", 0, LINE, backlog=args.connections)
    port = server.sockets[0].getsockname()[1]
    gc.collect()
    before = tracemalloc.take_snapshot()
    clients = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--client",
        str(port),
        "--connections",
        str(args.connections),
        "--lines",
        str(args.lines),
        "--fragment",
        str(args.fragment),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert clients.stdout is not None
    assert clients.stdin is not None
    await clients.stdout.readline()  # "sent"
    await asyncio.wait_for(tally.done.wait(), 120)
    for _ in range(10):
        await asyncio.sleep(0)  # let every handler get back to waiting
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    clients.stdin.close()
    await clients.wait()
    server.close()
    await server.wait_closed()

    per_connection: dict[str, float] = {}
    for stat in after.compare_to(before, "traceback"):
        category = categorize(stat.traceback)
        per_connection[category] = per_connection.get(category, 0) + stat.size_diff
    for category in per_connection:
        per_connection[category] /= args.connections
    per_connection["frames"] = tally.frames
    per_connection["bad frames"] = tally.bad
    return per_connection


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--fragment", type=int, default=7)
    parser.add_argument("--baseline", action="store_true", help="asyncio streams, for contrast")
    parser.add_argument("--client", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        run_clients(args.client, args.connections, args.lines, args.fragment)
        return
    raise_descriptor_limit(args.connections + 64)
    result = asyncio.run(serve(args, args.baseline))
    kind = "asyncio streams" if args.baseline else "streamframer.aio"
    print(
        f"{kind}: {args.connections} connections, {int(result.pop('frames'))} frames framed, "
        f"{int(result.pop('bad frames'))} bad"
    )
    print("Python heap per idle connection (tracemalloc):")
    for category, size in sorted(result.items(), key=lambda item: -item[1]):
        print(f"  {category:32s} {size:8.0f} B")
    print(f"  {'total':32s} {sum(result.values()):8.0f} B")
    print(
        f"max RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} KiB; "
        f"pid {os.getpid()}"
    )


if __name__ == "__main__":
    main()
