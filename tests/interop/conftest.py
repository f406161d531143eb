"""Fixtures for the interop tests: real servers on loopback, and a tally of the frames checked.

Each server fixture starts its program on a free 127.0.0.1 port, waits (bounded) until it
accepts, yields the port, and stops the program in its finalizer. The examples directory is
put on ``sys.path`` so that the tests exercise the very code the cookbook shows.
"""

from __future__ import annotations

import asyncio
import collections
import importlib
import random
import socket
import sys
import threading
import warnings
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from programs import server_program, starts

from .servers import (
    IO_TIMEOUT,
    LOOPBACK,
    START_TIMEOUT,
    connect,
    free_port,
    run_as_root_option,
    start,
    stop,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

with warnings.catch_warnings():
    # nmeasim's enum module warns on import on Python 3.9 only ("private variables ... will be
    # normal attributes in 3.10"), which -W error would turn into a collection error. Imported
    # once here, it is not imported again by the tests.
    warnings.filterwarnings("ignore", "private variables", DeprecationWarning)
    import nmeasim.simulator  # type: ignore[import-untyped]  # noqa: F401

import scpi_instrument  # noqa: E402 - from the examples directory, put on sys.path above

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


@pytest.fixture
@starts("redis-server")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A redis-server of its own on 127.0.0.1, nothing persisted, DEBUG allowed locally."""
    program = server_program("redis-server")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    # A server per test: each test runs once per core, and expects the keys it makes to be new.
    argv = [program, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(workdir), "--daemonize", "no", "--enable-debug-command", "local"]
    process = start(argv)
    try:
        connect(port, process=process).close()
        yield port
    finally:
        stop(process)


@pytest.fixture
@starts("memcached")
def memcached_port() -> Iterator[int]:
    """A memcached of its own on 127.0.0.1 (TCP only, 64 MiB), for one test, as redis."""
    program = server_program("memcached")
    port = free_port()
    argv = [program, "-l", LOOPBACK, "-p", str(port), "-U", "0", "-m", "64", *run_as_root_option()]
    process = start(argv)
    try:
        connect(port, process=process).close()
        yield port
    finally:
        stop(process)


@pytest.fixture
def scope() -> Iterator[tuple[int, scpi_instrument.SimulatedScope]]:
    """The simulated instrument, serving on a free loopback port in a thread."""
    instrument = scpi_instrument.SimulatedScope()
    stopping = threading.Event()
    with socket.create_server((LOOPBACK, 0)) as listener:
        serving = threading.Thread(
            target=scpi_instrument.serve, args=(listener, instrument, stopping), daemon=True
        )
        serving.start()
        try:
            yield listener.getsockname()[1], instrument
        finally:
            stopping.set()
            serving.join(IO_TIMEOUT)
            assert not serving.is_alive(), "the simulated instrument did not stop"


class ModbusServer(NamedTuple):
    """A pymodbus TCP server and the values its datastore started with (addresses from 0)."""

    port: int
    registers: list[int]
    coils: list[bool]


@pytest.fixture
def modbus_server() -> Iterator[ModbusServer]:
    """A pymodbus TCP server on 127.0.0.1, in a thread with its own event loop.

    Holding registers 0-199 and coils 0-299 start with seeded random values.
    """
    datastore: Any = importlib.import_module("pymodbus.datastore")  # its API moves: see below
    from pymodbus.server import ModbusTcpServer

    rng = random.Random(502)
    registers = [rng.randrange(0x10000) for _ in range(200)]
    coils = [rng.random() < 0.5 for _ in range(300)]
    # pymodbus 3.8 calls it a slave context, 3.9+ a device context. Block address 1 is protocol
    # address 0 in both.
    context_class = getattr(datastore, "ModbusDeviceContext", None) or datastore.ModbusSlaveContext
    device = context_class(
        hr=datastore.ModbusSequentialDataBlock(1, list(registers)),
        co=datastore.ModbusSequentialDataBlock(1, list(coils)),
    )
    context = datastore.ModbusServerContext(device, single=True)

    port = free_port()
    loop = asyncio.new_event_loop()
    servers: list[ModbusTcpServer] = []

    async def serve() -> None:
        server = ModbusTcpServer(context, address=(LOOPBACK, port))  # needs a running loop
        servers.append(server)
        await server.serve_forever()

    serving = threading.Thread(target=_run_until_done, args=(loop, serve()), daemon=True)
    serving.start()
    try:
        connect(port).close()
        yield ModbusServer(port, registers, coils)
    finally:
        if servers:
            shutdown = servers[0].shutdown()  # type: ignore[no-untyped-call]
            asyncio.run_coroutine_threadsafe(shutdown, loop).result(START_TIMEOUT)
        serving.join(START_TIMEOUT)
        assert not serving.is_alive(), "the pymodbus server thread did not stop"


def _run_until_done(loop: asyncio.AbstractEventLoop, main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` in ``loop`` (this thread's), then finish every task left and close it."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main)
    finally:
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()
