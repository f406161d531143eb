"""Helpers for the command-line tests: run ``python -m streamframer``, and loopback TCP peers."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Callable

PIECE_DELAY = 0.01  # seconds between two pieces a peer sends: they usually arrive as two reads
WAIT = 10.0  # seconds a peer or a command may take at most before the test fails


def run_cli(
    *args: str, input: bytes | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[bytes]:
    """Run the command in a fresh interpreter; stdout and stderr are captured as bytes."""
    return subprocess.run(
        [sys.executable, "-m", "streamframer", *args],
        input=input,
        capture_output=True,
        timeout=WAIT,
        check=False,
        **kwargs,
    )


def stderr_lines(result: subprocess.CompletedProcess[bytes]) -> list[str]:
    return result.stderr.decode().splitlines()


class Peer:
    """A TCP peer on 127.0.0.1: serves one connection with ``script(conn)`` in a thread.

    Use it as a context manager; leaving it waits for the script, and raises what the script
    raised unless ``check=False`` (then it is in ``error``).
    """

    def __init__(
        self,
        script: Callable[[socket.socket], None],
        *,
        tls: ssl.SSLContext | None = None,
        check: bool = True,
    ) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(WAIT)
        self.port: int = self.listener.getsockname()[1]
        self.url = f"tcp://127.0.0.1:{self.port}"
        self.tls_url = f"tls://127.0.0.1:{self.port}"
        self.error: BaseException | None = None
        self._script = script
        self._tls = tls
        self._check = check
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Peer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._thread.join(WAIT)
        self.listener.close()
        if self._thread.is_alive():
            raise AssertionError("the peer's script did not finish")
        if self._check and self.error is not None and exc is None:
            raise self.error

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
            conn.settimeout(WAIT)
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            with conn:
                self._script(conn)
        except BaseException as exc:
            self.error = exc


def send_pieces(conn: socket.socket, pieces: Sequence[bytes]) -> None:
    for piece in pieces:
        conn.sendall(piece)
        time.sleep(PIECE_DELAY)


def wait_for_close(conn: socket.socket) -> bytes:
    """Everything the other side sends until it closes the connection."""
    received = b""
    while True:
        data = conn.recv(4096)
        if not data:
            return received
        received += data


def receive_line(conn: socket.socket) -> bytes:
    """One command, up to and including its final LF."""
    received = b""
    while not received.endswith(b"\n"):
        data = conn.recv(1)
        if not data:
            raise AssertionError(f"closed after {received!r}, before a line ended")
        received += data
    return received
