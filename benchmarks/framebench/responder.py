"""An instrument that reads commands ended by CR and answers lines ended by CR LF, in its own
process: ``python -m framebench.responder``. It prints its port, then serves one connection at
a time until ``b"quit\\r"``.

A LF right after a CR is skipped, so a command sent with CR LF (what a CR LF rule encodes) is
answered too: the benchmark times ``query()`` with ``encoder=until_delim(b"\\r")`` and without
one against the same instrument. Every command gets the same 15-byte reply.
"""

from __future__ import annotations

import socket

REPLY = b"+4.997956E+00\r\n"


def serve() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        print(server.getsockname()[1], flush=True)
        while True:
            conn, _ = server.accept()
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if not _answer(conn):
                    return


def _answer(conn: socket.socket) -> bool:
    """Answer every command on ``conn``; False once told to quit."""
    pending = b""
    while data := conn.recv(65536):
        pending += data
        while (end := pending.find(b"\r")) >= 0:
            command, pending = pending[:end], pending[end + 1 :]
            if command.startswith(b"\n"):
                command = command[1:]
            if command == b"quit":
                return False
            conn.sendall(REPLY)
        if pending.startswith(b"\n"):
            pending = pending[1:]
    return True


if __name__ == "__main__":
    serve()
