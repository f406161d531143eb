"""``streamframer demo --serve [HOST:]PORT``: the demo's simulated instrument on its own.

It serves any number of connections until Ctrl-C, so that the examples of the README and the
docs run as pasted against it (they use ``tcp://127.0.0.1:5025``). It reads commands ended by
LF, CR LF or CR (whichever the client's encoder sends), answers queries (``*IDN?``,
``MEAS:VOLT?``, ``CURV?``: an IEEE 488.2 block, ``DIAG:LOG?``: ended by EOT, anything else with
a ``?``: a SCPI error line) whole, and nothing to commands without ``?``. Each command is
printed as it arrives.
"""

from __future__ import annotations

import random
import socket
import socketserver
import threading
from typing import TextIO

from .. import BufferManager, StreamClosed, iter_frames, until_any
from ._common import EXIT_IO, Failure
from ._demo import reply

__all__ = ["serve"]

# A command ends at LF or CR; the LF after a CR is an empty command, skipped.
_COMMANDS = until_any((b"\n", b"\r"), skip_empty=True)


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True  # a client that stays connected does not keep Ctrl-C from exiting


def serve(address: tuple[str, int], seed: int | None, out: TextIO) -> int:
    """Serve until interrupted; return the exit code (0: stopped by Ctrl-C)."""
    rng = random.Random(seed)
    serial = rng.randint(10000, 99999)
    lock = threading.Lock()  # one random generator and one output for every connection

    class Session(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            conn: socket.socket = self.request
            host, port = conn.getpeername()[:2]
            peer = f"{host}:{port}"
            try:
                for frame in iter_frames(conn, BufferManager(max_size=4096), _COMMANDS):
                    command = frame.tobytes().decode("ascii", "replace").strip()
                    with lock:
                        answer = reply(rng, serial, command)
                        out.write(f"[{peer}] {command}\n")
                        out.flush()
                    if answer is not None:
                        conn.sendall(answer[0])
            except (OSError, StreamClosed):
                pass  # the client went away: the next one is served all the same

    host, port = address
    try:
        server = _Server((host, port), Session)
    except OSError as exc:
        raise Failure(EXIT_IO, f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    with server:
        bound_host, bound_port = server.socket.getsockname()[:2]
        out.write(
            "streamframer demo: a simulated SCPI instrument at "
            f"tcp://{bound_host}:{bound_port} (Ctrl-C stops it)\n"
        )
        out.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            out.write("streamframer demo: stopped\n")
    return 0
