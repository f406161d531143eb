"""The async recipes: the simulated instrument as an asyncio server, with anyio clients
(examples/async_frames.py, streamframer.anyio) on asyncio and on trio, and a blocking client."""

from __future__ import annotations

import asyncio
import collections
import struct

import anyio
import numpy as np
import pytest
from async_frames import read_waveform
from asyncio_server import start_server
from scpi_instrument import IDENTITY, SimulatedScope
from scpi_waveform import RESPONSE

from streamframer import Framed, ieee_block
from streamframer.anyio import FramedStream

from .servers import IO_TIMEOUT, LOOPBACK, connect

pytestmark = pytest.mark.usefixtures("event_loop_name")

CLIENTS = 20


async def _client(port: int, number: int) -> int:
    """Upload a waveform full of LF bytes in small writes, read it back; returns frames checked."""
    stream = await anyio.connect_tcp(LOOPBACK, port)
    values = [(10 + 256 * n + number) % 65536 for n in range(500)]  # every low byte is LF + k
    data = struct.pack(f"<{len(values)}H", *values)
    block = ieee_block().encode(data)
    message = b"*IDN?\nWAV:TYPE H\nWAV:BORD LITT\nWAV:DATA " + block + b"WAV:DATA?\n"
    async with FramedStream(stream, RESPONSE) as scope:
        for start in range(0, len(message), 7 + number):  # commands cut anywhere: it copes
            await stream.send(message[start : start + 7 + number])
        with await scope.read_frame() as frame:
            identity = frame.tobytes()
        with await scope.read_frame() as frame:
            waveform = np.frombuffer(frame.view, "<u2").tolist()
        errors = await scope.query(b"SYST:ERR?", timeout=IO_TIMEOUT)
    assert identity == IDENTITY
    assert waveform == values
    assert errors == b'0,"No error"'
    return 3


def test_asyncio_server_with_concurrent_async_clients(
    frames_checked: collections.Counter[str],
) -> None:
    async def scenario() -> list[int]:
        server = await start_server(LOOPBACK, 0, SimulatedScope)
        async with server:
            port = server.sockets[0].getsockname()[1]
            clients = [_client(port, number) for number in range(CLIENTS)]
            return await asyncio.wait_for(asyncio.gather(*clients), IO_TIMEOUT)

    checked = asyncio.run(scenario())
    assert checked == [3] * CLIENTS
    frames_checked["asyncio"] += sum(checked)


def test_asyncio_server_with_a_blocking_client(frames_checked: collections.Counter[str]) -> None:
    """The blocking recipe (scpi_waveform.query) against the asyncio server in its own loop."""

    async def scenario() -> list[bytes]:
        server = await start_server(LOOPBACK, 0, SimulatedScope)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await asyncio.wait_for(asyncio.to_thread(_blocking_queries, port), IO_TIMEOUT)

    answers = asyncio.run(scenario())
    assert answers == [IDENTITY, b"100", b"d", b'-113,"Undefined header"']
    frames_checked["asyncio"] += len(answers)


def _blocking_queries(port: int) -> list[bytes]:
    with Framed(connect(port), RESPONSE) as scope:
        answers = [scope.query(b"*IDN?", timeout=IO_TIMEOUT), scope.query(b"WAV:POIN?")]
        scope.send(b"WAV:TYPE d")
        answers.append(scope.query(b"WAV:TYPE?"))
        scope.send(b"BOGUS")
        answers.append(scope.query(b"SYST:ERR?"))
        return answers


def test_the_anyio_example_on_asyncio(frames_checked: collections.Counter[str]) -> None:
    async def scenario() -> tuple[bytes, bytes]:
        server = await start_server(LOOPBACK, 0, SimulatedScope)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await asyncio.wait_for(read_waveform(port, 777), IO_TIMEOUT)

    identity, waveform = asyncio.run(scenario())
    assert identity == IDENTITY
    assert list(waveform) == [37 * n % 101 for n in range(777)]
    frames_checked["asyncio"] += 2


def test_the_anyio_example_on_trio(
    scope: tuple[int, SimulatedScope], frames_checked: collections.Counter[str]
) -> None:
    """The same client on trio, against the instrument's blocking server in a thread."""
    port, _ = scope

    async def bounded() -> tuple[bytes, bytes]:
        with anyio.fail_after(IO_TIMEOUT):
            return await read_waveform(port, 1500)

    identity, waveform = anyio.run(bounded, backend="trio")
    assert identity == IDENTITY
    assert list(waveform) == [37 * n % 101 for n in range(1500)]
    frames_checked["trio"] += 2


def test_a_malformed_block_closes_the_connection_with_a_message() -> None:
    async def scenario() -> bytes:
        server = await start_server(LOOPBACK, 0, SimulatedScope)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection(LOOPBACK, port)
            writer.write(b"*IDN?\nWAV:DATA #x12\n")
            received = await asyncio.wait_for(reader.read(), IO_TIMEOUT)  # until the server closes
            writer.close()
            await writer.wait_closed()
            return received

    identity, error, rest = asyncio.run(scenario()).split(b"\n")
    assert identity == IDENTITY
    assert error.startswith(b'-100,"')
    assert b"#x" in error
    assert rest == b""
