"""The writing side of an asyncio framed connection: :class:`FramedWriter`, and its ``query()``:
send, then exactly one reply, within a deadline, losing nothing.

The reply is read by the connection's :class:`FramedReader`, so everything its ``read_frame()``
guarantees holds: a timeout cancels the wait, never a byte (the bytes live in the manager). A
reply that arrives after the deadline is not the next query's answer: the connection remembers
that a reply is owed, and the next ``query()`` drops what was received first
(``reader.reset_input_buffer()``), as the blocking ``Framed.query()`` does.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ._checks import timeout_arg
from ._hints import no_reply
from ._writes import encode_with

if TYPE_CHECKING:
    from ._aio_protocol import FramedProtocol
    from ._aio_reader import FramedReader

__all__ = ["FramedWriter"]


class FramedWriter:
    """The writing side of a framed connection: a thin layer over the transport, with
    ``drain()`` flow control and ``wait_closed()``, shaped like ``asyncio.StreamWriter``;
    ``send()`` and ``query()`` encode with the reader's rule."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: FramedProtocol) -> None:
        self._protocol = protocol

    @property
    def transport(self) -> asyncio.Transport:
        transport = self._protocol._transport
        if transport is None:
            raise RuntimeError("the connection is not made yet")
        return transport

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.transport.write(data)

    def send(self, payload: object, **encode_kw: Any) -> None:
        """Write ``payload`` as one frame, encoded by the connection's ``encoder=`` or else the
        reader's rule (``encode(payload, **encode_kw)``); ``await drain()`` as after
        ``write()``. A payload it cannot frame is its ``ValueError``, and nothing is written."""
        self.transport.write(self._encode(payload, encode_kw))

    def _encode(self, payload: object, encode_kw: dict[str, Any]) -> bytes:
        protocol = self._protocol
        encoder = protocol.encoder
        return encode_with(protocol.reader.rule if encoder is None else encoder, payload, encode_kw)

    async def query(self, payload: object, timeout: float | None = None, **encode_kw: Any) -> bytes:
        """Send ``payload`` (as :meth:`send`), then return the next frame's payload, copied and
        consumed. ``timeout`` bounds the drain and the wait: ``TimeoutError`` saying how long,
        what is buffered and, when nothing came back, the line ending sent; nothing is lost. A
        reply that comes after that is dropped by the next ``query()`` (see the module)."""
        timeout = timeout_arg(timeout)
        wire = self._encode(payload, encode_kw)
        reader = self._protocol.reader
        if self._protocol.owed:
            reader.reset_input_buffer()
        self.transport.write(wire)
        try:
            return await asyncio.wait_for(_reply(self, reader), timeout)
        except asyncio.TimeoutError:  # on 3.9 and 3.10 not yet the builtin TimeoutError
            self._protocol.owed = True
            raise TimeoutError(no_reply(timeout, len(reader.manager), payload, wire)) from None

    def writelines(self, data: Any) -> None:
        self.transport.writelines(data)

    def write_eof(self) -> None:
        self.transport.write_eof()

    def can_write_eof(self) -> bool:
        return self.transport.can_write_eof()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def close(self) -> None:
        self.transport.close()

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark. Raises the
        connection's error (or ``ConnectionResetError``) once it is lost."""
        protocol = self._protocol
        protocol._check_lost()
        if self.transport.is_closing():
            # connection_lost() follows, after one loop pass or more (uvloop, a device's two
            # transports): wait for it rather than for one pass, as asyncio streams do.
            await self.wait_closed()
            protocol._check_lost()
        if protocol._write_paused:
            drained = protocol._drained
            if drained is None:
                drained = protocol._drained = asyncio.get_running_loop().create_future()
            await asyncio.shield(drained)  # one waiter's cancellation must not wake the others
            protocol._check_lost()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed (after ``close()``)."""
        protocol = self._protocol
        if protocol._lost:
            return
        closed = protocol._closed
        if closed is None:
            closed = protocol._closed = asyncio.get_running_loop().create_future()
        await asyncio.shield(closed)


async def _reply(writer: FramedWriter, reader: FramedReader) -> bytes:
    await writer.drain()
    # Copied and consumed here, inside the deadline: a frame handed out is never left behind
    # by a timeout that fires as it arrives.
    with await reader.read_frame() as frame:
        return frame.tobytes()
