"""A line-framed asyncio server and client: a toy SCPI instrument and a program querying it.

The server frames each connection with its own manager; the loop receives straight into it
(no ``bytes`` object per read). ``async for`` consumes each frame when the loop moves on. Both
sides write through the rule: ``writer.send(payload)`` adds the newline, and ``writer.query()``
sends a command and returns the reply, copied and consumed.

Run: ``python examples/asyncio_instrument.py`` (serves on a free 127.0.0.1 port and queries it).
"""

from __future__ import annotations

import asyncio

from streamframer import until_delim
from streamframer.aio import FramedReader, FramedWriter, open_framed_connection, start_framed_server

LINE = until_delim(b"\n")  # a line without its b"\n"; strip=b"\r" would also drop a CR

REPLIES = {b"*IDN?": b"ACME,Model 7,0001,1.0", b"MEAS:VOLT?": b"+1.234500E+00"}


async def instrument(reader: FramedReader, writer: FramedWriter) -> None:
    """Answer each query line; the connection closes when this returns (the peer closed)."""
    async for frame in reader:
        writer.send(REPLIES.get(bytes(frame), b'-113,"Undefined header"'))
        await writer.drain()


async def query(port: int, commands: list[bytes]) -> list[bytes]:
    _, writer = await open_framed_connection("127.0.0.1", port, LINE)
    replies = []
    try:
        for command in commands:
            # A timeout cancels the wait, never the bytes: a late reply is the next frame.
            replies.append(await writer.query(command, timeout=5))
    finally:
        writer.close()
        await writer.wait_closed()
    return replies


async def main() -> None:
    server = await start_framed_server(instrument, "127.0.0.1", 0, LINE)
    async with server:
        port = server.sockets[0].getsockname()[1]
        for reply in await query(port, [b"*IDN?", b"MEAS:VOLT?", b"SYST:BEEP"]):
            print(reply.decode())


if __name__ == "__main__":
    asyncio.run(main())
