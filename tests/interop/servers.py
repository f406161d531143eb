"""Start and stop the third-party programs the interop tests talk to, on 127.0.0.1 only.

Every program listens on a free loopback port picked at start, is waited for with a bound (a
program that dies or never accepts fails the test with its stderr), and is stopped by the caller's
finalizer. A fixture that starts a program declares it (``@starts("memcached")``) and finds it
with ``server_program`` (tests/programs.py, which says what happens where it is missing).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"
#: How long a program may take to accept its first connection.
START_TIMEOUT = 10.0
#: Bound on every socket operation of the tests: a silent server fails the test, never hangs it.
IO_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def connect(port: int, *, process: subprocess.Popen[bytes] | None = None) -> socket.socket:
    """Connect to ``port`` on 127.0.0.1, waiting (bounded) until the server accepts.

    The first successful connection is returned, not thrown away: some servers (socat without
    ``fork``) serve exactly one. If ``process`` exits meanwhile, its stderr is in the failure.
    """
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            sock = socket.create_connection((LOOPBACK, port), timeout=IO_TIMEOUT)
        except ConnectionRefusedError:
            if process is not None and process.poll() is not None:
                pytest.fail(
                    f"{process.args!r} exited with {process.returncode} before accepting "
                    f"connections: {_stderr(process)}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(f"nothing accepted on port {port} within {START_TIMEOUT} s")
            time.sleep(0.02)
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def start(argv: Sequence[str], *, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a server process; stop it with :func:`stop`."""
    return subprocess.Popen(
        list(argv),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a Ctrl-C of the test run does not reach it first
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process`` and reap it (kill it if it ignores SIGTERM for 5 s)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    if process.stderr is not None:
        process.stderr.close()


def _stderr(process: subprocess.Popen[bytes]) -> str:
    assert process.stderr is not None
    return repr(process.stderr.read()[-2000:])


def run_as_root_option() -> list[str]:
    """memcached refuses to run as root unless told which user to run as."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return ["-u", "root"]
    return []
