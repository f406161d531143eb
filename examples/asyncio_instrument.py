"""A line-framed asyncio server and client: a toy SCPI instrument and a program querying it.

The server frames each connection with its own manager; the loop receives straight into it
(no ``bytes`` object per read). ``async for`` consumes each frame when the loop moves on;
``read_frame()`` leaves consuming to the caller (here ``with frame:``).

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
        writer.write(REPLIES.get(bytes(frame), b'-113,"Undefined header"') + b"\n")
        await writer.drain()


async def query(port: int, commands: list[bytes]) -> list[bytes]:
    reader, writer = await open_framed_connection("127.0.0.1", port, LINE)
    replies = []
    try:
        for command in commands:
            writer.write(command + b"\n")
            # A timeout cancels the wait, never the bytes: calling again carries on.
            with await asyncio.wait_for(reader.read_frame(), timeout=5) as frame:
                replies.append(bytes(frame))
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
