"""The loopback sender, run in its own process: ``python -m framebench.sender SIZE:COUNT ...``.

It builds every stream it was asked for up front (so that no timed read waits for the sender to
generate bytes), listens on 127.0.0.1, prints its port, then serves one connection at a time: the
receiver sends ``b"SIZE COUNT\\n"``, the sender answers with COUNT lines of SIZE bytes (``b"\\n"``
included) and closes. ``b"quit\\n"`` stops it.
"""

from __future__ import annotations

import socket
import sys

from .workloads import text_payload


def stream(frame_size: int, count: int) -> bytes:
    line = text_payload(frame_size - 1, 0) + b"\n"
    return line * count


def serve(configs: list[tuple[int, int]]) -> None:
    streams = {config: stream(*config) for config in configs}
    with socket.create_server(("127.0.0.1", 0)) as server:
        print(server.getsockname()[1], flush=True)
        while True:
            conn, _ = server.accept()
            with conn, conn.makefile("rb") as commands:
                command = commands.readline().split()
                if command == [b"quit"]:
                    return
                size, count = map(int, command)
                conn.sendall(streams[size, count])
                conn.shutdown(socket.SHUT_WR)


def main(argv: list[str]) -> None:
    configs = []
    for arg in argv:
        size, count = arg.split(":")
        configs.append((int(size), int(count)))
    serve(configs)


if __name__ == "__main__":
    main(sys.argv[1:])
