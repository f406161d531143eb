"""Fixtures for the interop tests: real servers on loopback, and a tally of the frames checked.

Each server fixture starts its program on a free 127.0.0.1 port, waits (bounded) until it
accepts, yields the port, and stops the program in its finalizer. The examples directory is
put on ``sys.path`` so that the tests exercise the very code the cookbook shows.
"""

from __future__ import annotations

import collections
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .servers import (
    LOOPBACK,
    connect,
    free_port,
    require_program,
    run_as_root_option,
    start,
    stop,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

#: Frames whose content a test compared with what the producer sent, per producer.
FRAMES_CHECKED: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="session")
def frames_checked() -> collections.Counter[str]:
    """Add the number of frames a test verified: ``frames_checked["redis"] += n``."""
    return FRAMES_CHECKED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FRAMES_CHECKED:
        tally = ", ".join(f"{name} {count}" for name, count in sorted(FRAMES_CHECKED.items()))
        terminalreporter.write_line(f"interop frames checked: {tally}")


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A redis-server of its own on 127.0.0.1, nothing persisted, DEBUG allowed locally."""
    program = require_program("redis-server")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    # Keys live for the module: each test uses key names of its own.
    argv = [program, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(workdir), "--daemonize", "no", "--enable-debug-command", "local"]
    process = start(argv)
    try:
        connect(port, process=process).close()
        yield port
    finally:
        stop(process)


@pytest.fixture(scope="module")
def memcached_port() -> Iterator[int]:
    """A memcached of its own on 127.0.0.1 (TCP only, 64 MiB)."""
    program = require_program("memcached")
    port = free_port()
    argv = [program, "-l", LOOPBACK, "-p", str(port), "-U", "0", "-m", "64", *run_as_root_option()]
    process = start(argv)
    try:
        connect(port, process=process).close()
        yield port
    finally:
        stop(process)
