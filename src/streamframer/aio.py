"""asyncio: framed connections, with the bytes received straight into the manager.

Import it explicitly (``import streamframer.aio``); the rest of the package never imports asyncio.

``open_framed_connection()``, ``open_framed_device()`` (a serial port or pty) and
``start_framed_server()`` give a :class:`FramedReader` (``await reader.read_frame()``, ``async for
frame in reader``, ``reset_input_buffer()``) and a :class:`FramedWriter` (``write()``,
``send(payload)`` encoded with ``encoder=`` or the reader's rule, ``await query(payload)``) per
connection.
:class:`FramedProtocol` (an ``asyncio.BufferedProtocol``) works with any loop method that takes a
protocol factory. What holds:

* Zero-copy receive: the loop reads into the manager's spare capacity, no ``bytes`` per read.
* Cancellation-safe: received bytes live in the manager, so a ``read_frame()`` cancelled
  mid-frame (``asyncio.wait_for`` timing out) loses nothing; the next call returns the frame.
* Backpressure: reading pauses while more than ``read_ahead`` bytes wait unread (or the buffer
  holds ``max_size``), and resumes when the task needs bytes again.
* The end of the stream raises :class:`~streamframer.StreamClosed`, as the blocking API does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Callable

from ._core import DEFAULT_MAX_SIZE, BufferManager
from ._io._aio_device import open_framed_device
from ._io._aio_protocol import DEFAULT_READ_AHEAD, FramedProtocol, FramedReader, FramedWriter

if TYPE_CHECKING:
    from ssl import SSLContext

    from ._io._writes import Encoder
    from ._rules import Rule

__all__ = [
    "DEFAULT_READ_AHEAD",
    "FramedProtocol",
    "FramedReader",
    "FramedWriter",
    "open_framed_connection",
    "open_framed_device",
    "start_framed_server",
]

Handler = Callable[[FramedReader, FramedWriter], Awaitable[None]]


class _ServerProtocol(FramedProtocol):
    """Runs ``handler(reader, writer)`` in a task per connection, then closes the transport."""

    __slots__ = ("_handler", "_task")

    def __init__(
        self,
        handler: Handler,
        rule: Rule,
        manager: BufferManager,
        read_ahead: int,
        encoder: Encoder | None,
    ):
        super().__init__(rule, manager, read_ahead=read_ahead, encoder=encoder)
        self._handler = handler
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def _serve(self) -> None:
        transport = self._transport
        assert transport is not None
        try:
            await self._handler(self.reader, FramedWriter(self))
        except Exception as exc:
            asyncio.get_running_loop().call_exception_handler(
                {
                    "message": "unhandled exception in a framed connection handler",
                    "exception": exc,
                    "transport": transport,
                    "protocol": self,
                }
            )
        finally:
            transport.close()
            self._task = None


async def open_framed_connection(
    host: str,
    port: int,
    rule: Rule,
    *,
    max_size: int | None = DEFAULT_MAX_SIZE,
    read_ahead: int = DEFAULT_READ_AHEAD,
    ssl: SSLContext | bool | None = None,
    encoder: Encoder | None = None,
    **kwargs: Any,
) -> tuple[FramedReader, FramedWriter]:
    """Connect over TCP (TLS with ``ssl``) and return a framed ``(reader, writer)`` pair.

    ``rule`` is the reader's default rule; ``max_size`` bounds one frame (``None``: no limit);
    ``read_ahead`` bounds the bytes read ahead of the task; ``encoder`` (anything with
    ``encode(payload, **options)``, such as ``until_delim(b"\\r")``) encodes what the writer's
    ``send()`` and ``query()`` are given, the rule by default. Other keyword arguments go to
    ``loop.create_connection`` (``server_hostname``, ``local_addr``, ...). Configure the
    manager's other policies through ``reader.manager``.
    """
    manager = BufferManager(max_size)
    FramedProtocol(rule, manager, read_ahead=read_ahead, encoder=encoder)  # checked before I/O
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: FramedProtocol(rule, manager, read_ahead=read_ahead, encoder=encoder),
        host,
        port,
        ssl=ssl,
        **kwargs,
    )
    return protocol.reader, protocol.writer


async def start_framed_server(
    handler: Handler,
    host: str | None,
    port: int | None,
    rule: Rule,
    *,
    max_size: int | None = DEFAULT_MAX_SIZE,
    read_ahead: int = DEFAULT_READ_AHEAD,
    ssl: SSLContext | None = None,
    encoder: Encoder | None = None,
    **kwargs: Any,
) -> asyncio.Server:
    """Start a TCP (TLS with ``ssl``) server running ``await handler(reader, writer)`` for each
    connection, each with its own manager; the connection is closed when the handler returns.

    An exception escaping the handler goes to the loop's exception handler. Other keyword
    arguments go to ``loop.create_server`` (``backlog``, ``reuse_port``, ...); ``encoder`` is
    :func:`open_framed_connection`'s.
    """
    if not callable(handler):
        raise TypeError(f"handler must be callable, not {type(handler).__name__}")
    BufferManager(max_size)  # bad arguments fail here, not in every connection
    FramedProtocol(rule, read_ahead=read_ahead, encoder=encoder)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: _ServerProtocol(handler, rule, BufferManager(max_size), read_ahead, encoder),
        host,
        port,
        ssl=ssl,
        **kwargs,
    )
