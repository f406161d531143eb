"""Framing on your own async stack: feed the sans-IO core from an ``asyncio.StreamReader``.

The core does no I/O: whatever delivers bytes (a ``StreamReader``, a trio or anyio stream, a
serial thread, a capture file) calls ``mgr.feed(data)`` and asks ``mgr.next_frame(rule)``. The
bytes live in the manager, so a cancelled ``read`` loses nothing.

Run: ``python examples/asyncio_own_stream.py`` (a throwaway server sends lines in pieces).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from streamframer import BufferManager, Rule, StreamClosed, until_delim


async def frames(stream: asyncio.StreamReader, rule: Rule) -> AsyncIterator[bytes]:
    """Yield each frame's payload until the stream ends cleanly."""
    mgr = BufferManager()
    while True:
        try:
            frame = mgr.next_frame(rule)
        except StreamClosed as exc:  # raised once the stream ended and the frames are taken
            if exc.partial:
                raise
            return
        if frame is None:
            data = await stream.read(65536)
            if data:
                mgr.feed(data)
            else:
                mgr.feed_eof()
            continue
        with frame:  # consumed on exit
            yield bytes(frame)


async def send_in_pieces(
    _reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pieces: list[bytes]
) -> None:
    for piece in pieces:
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.001)  # let each piece arrive on its own
    writer.close()


async def main() -> list[bytes]:
    pieces = [b"temp=2", b"1.5\nhum", b"idity=40\n", b"pressure=1013\n"]
    server = await asyncio.start_server(lambda r, w: send_in_pieces(r, w, pieces), "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        stream, writer = await asyncio.open_connection("127.0.0.1", port)
        payloads = [payload async for payload in frames(stream, until_delim(b"\n"))]
        writer.close()
        await writer.wait_closed()
    for payload in payloads:
        print(payload.decode())
    return payloads


if __name__ == "__main__":
    asyncio.run(main())
