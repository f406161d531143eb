"""``FramedWriter.query``: send, then exactly one reply, within a deadline, losing nothing.

The reply is read by the connection's :class:`FramedReader`, so everything its ``read_frame()``
guarantees holds: a timeout cancels the wait, never a byte (the bytes live in the manager), and a
reply that arrives after the deadline is the next frame.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._aio_protocol import FramedReader, FramedWriter

__all__ = ["query"]


async def query(writer: FramedWriter, reader: FramedReader, timeout: float | None) -> bytes:
    """Wait (up to ``timeout`` seconds) until the bytes already written drain and the next
    frame arrives; return its payload, copied and consumed."""
    try:
        return await asyncio.wait_for(_reply(writer, reader), timeout)
    except asyncio.TimeoutError:  # on 3.9 and 3.10 not yet the builtin TimeoutError
        raise TimeoutError(
            f"no reply within {timeout} s ({len(reader.manager)} bytes buffered)"
        ) from None


async def _reply(writer: FramedWriter, reader: FramedReader) -> bytes:
    await writer.drain()
    # Copied and consumed here, inside the deadline: a frame handed out is never left behind
    # by a timeout that fires as it arrives.
    with await reader.read_frame() as frame:
        return frame.tobytes()
