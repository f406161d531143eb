"""Frames from any async byte stream: asyncio streams, anyio, trio, or your own.

The core never waits: it is given bytes (``mgr.feed``) and asked for frames (``next_frame``).
So one small loop serves every async library; only the call that waits for bytes differs:

==================  ==================================================================
asyncio             ``receive = lambda: reader.read(65536)``  (``b""`` at the end)
anyio               ``stream.receive()``, which raises ``anyio.EndOfStream`` at the end
trio                ``stream.receive_some(65536)``  (``b""`` at the end)
==================  ==================================================================

Run it against a SCPI instrument (or ``asyncio_server.py`` beside this file):
``python examples/async_frames.py [PORT]`` (default 5025 on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncGenerator, Awaitable
from typing import Callable

from streamframer import BufferManager, Rule, StreamClosed, scpi_response

__all__ = ["aiter_payloads"]


async def aiter_payloads(
    receive: Callable[[], Awaitable[bytes]], mgr: BufferManager, rule: Rule
) -> AsyncGenerator[bytes, None]:
    """Yield each frame's payload (a copy) as soon as it is complete.

    ``receive()`` waits for the next bytes and returns ``b""`` at the end of the stream. Ends
    cleanly when the stream ends between frames; raises :class:`StreamClosed` (with the bytes in
    ``.partial``) when it ends inside one. Cancelling the iteration loses nothing: the bytes
    received so far stay in ``mgr``.
    """
    while True:
        try:
            frame = mgr.next_frame(rule)
        except StreamClosed as closed:
            if closed.partial:
                raise
            return
        if frame is None:
            data = await receive()
            if data:
                mgr.feed(data)
            else:
                mgr.feed_eof()
            continue
        with frame:
            payload = frame.tobytes()
        yield payload


async def main(port: int = 5025) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    responses = aiter_payloads(lambda: reader.read(65536), BufferManager(), scpi_response())
    writer.write(b"*IDN?\nWAV:TYPE B\nWAV:DATA?\n")
    print(await responses.__anext__())
    print(len(await responses.__anext__()), "waveform bytes")
    writer.close()
    await writer.wait_closed()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5025))
