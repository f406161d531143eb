"""The asyncio server benchmark's clients, run in their own process by :mod:`framebench.aioserver`:

    python -m framebench.aio_clients CONNECTIONS LINES

It builds the bytes first (LINES lines of :data:`LINE_SIZE` bytes in all, shared out among the
connections), prints ``ready``, then for each port read from stdin opens CONNECTIONS blocking
connections, sends every connection's share round-robin in pieces of :data:`PIECE` bytes (so the
server reads from many connections at once), closes them and prints ``sent``. An empty line
stops it.
"""

from __future__ import annotations

import socket
import sys

from .workloads import text_payload

LINE_SIZE = 64  # on the wire, b"\n" included
PIECE = 16 * 1024


def streams(connections: int, lines: int) -> list[bytes]:
    line = text_payload(LINE_SIZE - 1, 0) + b"\n"
    share, extra = divmod(lines, connections)
    return [line * (share + (1 if n < extra else 0)) for n in range(connections)]


def send(port: int, data: list[bytes]) -> None:
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in data]
    try:
        for at in range(0, max(map(len, data)), PIECE):
            for sock, stream in zip(socks, data):
                if at < len(stream):
                    sock.sendall(stream[at : at + PIECE])
    finally:
        for sock in socks:
            sock.close()


def main(argv: list[str]) -> None:
    connections, lines = map(int, argv)
    data = streams(connections, lines)
    print("ready", flush=True)
    for command in sys.stdin:
        if not command.strip():
            return
        send(int(command), data)
        print("sent", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
