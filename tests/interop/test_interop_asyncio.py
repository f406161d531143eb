"""The asyncio recipes: the simulated instrument as an asyncio server, and the async frame loop
(an asyncio StreamReader standing in for anyio's and trio's streams) as its client."""

from __future__ import annotations

import asyncio
import collections
import struct

import numpy as np
from async_frames import aiter_payloads
from asyncio_server import start_server
from scpi_instrument import IDENTITY, SimulatedScope
from scpi_waveform import RESPONSE, query

from streamframer import BufferManager

from .servers import IO_TIMEOUT, LOOPBACK, connect

CLIENTS = 20


def _block(data: bytes) -> bytes:
    digits = b"%d" % len(data)
    return b"#%d%s%s" % (len(digits), digits, data)


async def _client(port: int, number: int) -> int:
    """Upload a waveform full of LF bytes in small writes, read it back; returns frames checked."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    responses = aiter_payloads(lambda: reader.read(65536), BufferManager(), RESPONSE)
    values = [(10 + 256 * n + number) % 65536 for n in range(500)]  # every low byte is LF + k
    data = struct.pack(f"<{len(values)}H", *values)
    message = b"*IDN?\nWAV:TYPE H\nWAV:BORD LITT\nWAV:DATA " + _block(data) + b"\nWAV:DATA?\n"
    for start in range(0, len(message), 7 + number):  # commands cut anywhere: the server copes
        writer.write(message[start : start + 7 + number])
        await writer.drain()
    identity = await responses.__anext__()
    waveform = np.frombuffer(await responses.__anext__(), "<u2")
    writer.write(b"SYST:ERR?\n")
    errors = await responses.__anext__()
    writer.close()
    await writer.wait_closed()
    await responses.aclose()
    assert identity == IDENTITY
    assert waveform.tolist() == values
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
    with connect(port) as sock:
        mgr = BufferManager()
        answers = [query(sock, mgr, "*IDN?"), query(sock, mgr, "WAV:POIN?")]
        sock.sendall(b"WAV:TYPE d\n")
        answers.append(query(sock, mgr, "WAV:TYPE?"))
        sock.sendall(b"BOGUS\n")
        answers.append(query(sock, mgr, "SYST:ERR?"))
        return answers


def test_a_cancelled_read_loses_nothing(frames_checked: collections.Counter[str]) -> None:
    """Bytes live in the manager, not in the coroutine: cancel mid-frame, then read on."""

    async def scenario() -> list[bytes]:
        chunks: asyncio.Queue[bytes] = asyncio.Queue()
        mgr = BufferManager()
        first = aiter_payloads(chunks.get, mgr, RESPONSE)
        waiting = asyncio.ensure_future(first.__anext__())
        await chunks.put(b"#15\n\r")  # half a block: the reader takes it and waits for more
        while not chunks.empty() or len(mgr) == 0:
            await asyncio.sleep(0)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        assert len(mgr) == 5  # kept

        second = aiter_payloads(chunks.get, mgr, RESPONSE)
        for chunk in (b"\x00\n", b"x\n", b"line\n", b""):
            await chunks.put(chunk)
        return [payload async for payload in second]

    payloads = asyncio.run(scenario())
    assert payloads == [b"\n\r\x00\nx", b"line"]
    frames_checked["asyncio"] += len(payloads)


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
