"""The soak benchmark's clients, run in their own process by ``benchmarks/soak.py``:

    python -m framebench.soak_clients PORT MODE CONNECTIONS LINES FRAGMENT PAUSE

One blocking socket per connection; each carries LINES lines of :data:`LINE_SIZE` bytes that
name their connection and number (:func:`line`), sent round-robin across the connections:
``fragmented`` in pieces of 1 to FRAGMENT bytes (seeded), ``slowloris`` one byte per connection
per step with PAUSE seconds between steps. The clients stop halfway through every connection's
first line and say ``held``; the server answers with a line once it has measured, and the clients
send the rest and say ``sent``; at the next line from the server they close every connection and
say ``closed``.
"""

from __future__ import annotations

import random
import resource
import socket
import sys
import time
from collections.abc import Sequence

LINE_SIZE = 64  # on the wire, b"\n" included
DESCRIPTORS_SPARE = 64  # listening socket, pipes, the interpreter's own files


def line(connection: int, number: int) -> bytes:
    """Line ``number`` of ``connection``, ``b"\\n"`` included."""
    head = b"%d:%d:" % (connection, number)
    return head + b"x" * (LINE_SIZE - 1 - len(head)) + b"\n"


def descriptors(wanted: int) -> int:
    """Raise the soft descriptor limit to the hard one; how many connections then fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, hard - DESCRIPTORS_SPARE))


def pieces(data: bytes, mode: str, fragment: int, rng: random.Random) -> list[bytes]:
    if mode == "slowloris":
        return [data[i : i + 1] for i in range(len(data))]
    cut = []
    position = 0
    while position < len(data):
        size = rng.randint(1, fragment)
        cut.append(data[position : position + size])
        position += size
    return cut


def send_round_robin(socks: list[socket.socket], parts: list[list[bytes]], pause: float) -> None:
    """One piece per connection per step, ``pause`` seconds between steps."""
    for step in range(max(map(len, parts))):
        for sock, mine in zip(socks, parts):
            if step < len(mine):
                sock.sendall(mine[step])
        if pause:
            time.sleep(pause)


def run(port: int, mode: str, connections: int, lines: int, fragment: int, pause: float) -> None:
    descriptors(connections)
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
    streams = [b"".join(line(c, n) for n in range(lines)) for c in range(connections)]
    half = LINE_SIZE // 2
    rng = random.Random(20261129)
    pause = pause if mode == "slowloris" else 0.0
    send_round_robin(socks, [pieces(s[:half], mode, fragment, rng) for s in streams], pause)
    print("held", flush=True)
    sys.stdin.readline()  # the server has measured
    send_round_robin(socks, [pieces(s[half:], mode, fragment, rng) for s in streams], pause)
    print("sent", flush=True)
    sys.stdin.readline()  # every line framed, idle connections measured
    for sock in socks:
        sock.close()
    print("closed", flush=True)


def main(argv: Sequence[str]) -> None:
    port, mode, connections, lines, fragment, pause = argv
    run(int(port), mode, int(connections), int(lines), int(fragment), float(pause))


if __name__ == "__main__":
    main(sys.argv[1:])
