"""asyncio over a character device, both directions: a serial port, a pseudo-terminal, a tty.

asyncio has no transport that both reads and writes a device: ``connect_read_pipe`` gives one
that only reads, ``connect_write_pipe`` one that only writes. :func:`open_framed_device` opens
both on one device (the writer on a duplicate of its descriptor, so that each transport closes
its own) and joins them into one transport, so that the reader and the writer behave as they do
over TCP: backpressure pauses the read side, ``drain()`` follows the write side, ``close()``
closes both, and the device going away (``EIO`` from a pty whose other end closed) ends the
reader's stream and makes ``drain()`` raise.

POSIX only, as asyncio's pipe transports are. Configure the line (baud rate, raw mode) with
``termios`` or pyserial before handing the descriptor over.
"""

from __future__ import annotations

import asyncio
import os
import stat
from typing import TYPE_CHECKING, Any, Union, cast

from .._core import DEFAULT_MAX_SIZE, BufferManager
from ._aio_protocol import DEFAULT_READ_AHEAD, FramedProtocol, FramedReader, FramedWriter

if TYPE_CHECKING:
    from .._rules import Rule
    from ._writes import Encoder

__all__ = ["open_framed_device"]

Device = Union[int, str, "os.PathLike[str]"]


async def open_framed_device(
    device: Device,
    rule: Rule,
    *,
    max_size: int | None = DEFAULT_MAX_SIZE,
    read_ahead: int = DEFAULT_READ_AHEAD,
    encoder: Encoder | None = None,
) -> tuple[FramedReader, FramedWriter]:
    """Frame a character device in both directions; returns ``(reader, writer)``.

    ``device`` is a path (opened for reading and writing, without becoming the controlling
    terminal) or a descriptor open for reading and writing, which the connection then owns:
    ``writer.close()`` closes it. ``rule``, ``max_size``, ``read_ahead`` and ``encoder`` are
    those of :func:`open_framed_connection`. Anything but a character device (a regular file,
    a FIFO, a socket) is a ``ValueError``: for a pipe, use ``loop.connect_read_pipe`` with
    :class:`FramedProtocol`.
    """
    manager = BufferManager(max_size)
    # Bad arguments fail before opening.
    FramedProtocol(rule, manager, read_ahead=read_ahead, encoder=encoder)
    opened = not isinstance(device, int)
    fd = device if isinstance(device, int) else os.open(device, os.O_RDWR | os.O_NOCTTY)
    try:
        if not stat.S_ISCHR(os.fstat(fd).st_mode):
            raise ValueError(
                f"{device!r} is not a character device (a serial port, pty or tty); "
                "open_framed_device() reads and writes one"
            )
        writing_file = os.fdopen(os.dup(fd), "wb", buffering=0)
    except BaseException:
        if opened:
            os.close(fd)
        raise
    reading_file = os.fdopen(fd, "rb", buffering=0)
    loop = asyncio.get_running_loop()
    try:
        writing, write_side = await loop.connect_write_pipe(_WriteSide, writing_file)
    except BaseException:
        writing_file.close()
        reading_file.close()
        raise
    try:
        _, protocol = await loop.connect_read_pipe(
            lambda: _DeviceProtocol(rule, manager, read_ahead, writing, encoder), reading_file
        )
    except BaseException:
        writing.close()
        reading_file.close()
        raise
    write_side.joined = protocol
    return protocol.reader, protocol.writer


class _DeviceProtocol(FramedProtocol):
    """A :class:`FramedProtocol` whose transport is the device's two pipe transports, joined."""

    __slots__ = ("_writing",)

    def __init__(
        self,
        rule: Rule,
        manager: BufferManager,
        read_ahead: int,
        writing: asyncio.WriteTransport,
        encoder: Encoder | None,
    ) -> None:
        super().__init__(rule, manager, read_ahead=read_ahead, encoder=encoder)
        self._writing = writing

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A read pipe transport (uvloop's are not asyncio.ReadTransport subclasses).
        reading = cast("asyncio.ReadTransport", transport)
        super().connection_made(_DeviceTransport(reading, self._writing))


class _WriteSide(asyncio.BaseProtocol):
    """The write pipe's protocol: flow control goes to the framed protocol; a failed write
    (the device went away) closes the device, so that the reader ends and ``drain()`` raises."""

    def __init__(self) -> None:
        self.joined: _DeviceProtocol | None = None

    def pause_writing(self) -> None:
        if self.joined is not None:
            self.joined.pause_writing()

    def resume_writing(self) -> None:
        if self.joined is not None:
            self.joined.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.joined is not None and self.joined._transport is not None:
            self.joined._transport.close()


class _DeviceTransport(asyncio.Transport):
    """A read pipe transport and a write pipe transport on one device, as one transport."""

    def __init__(self, reading: asyncio.ReadTransport, writing: asyncio.WriteTransport) -> None:
        super().__init__()
        self._reading = reading
        self._writing = writing
        # Kept here: a read pipe transport answers is_reading() only from Python 3.10 on.
        self._paused = False

    def write(self, data: Any) -> None:
        self._writing.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self._writing.writelines(list_of_data)

    def can_write_eof(self) -> bool:
        return False  # closing a duplicate descriptor of a device tells the other end nothing

    def get_write_buffer_size(self) -> int:
        return self._writing.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._writing.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._writing.get_write_buffer_limits()

    def pause_reading(self) -> None:
        self._reading.pause_reading()
        self._paused = True

    def resume_reading(self) -> None:
        self._reading.resume_reading()
        self._paused = False

    def is_reading(self) -> bool:
        return not self._paused and not self._reading.is_closing()

    def is_closing(self) -> bool:
        return self._reading.is_closing() or self._writing.is_closing()

    def close(self) -> None:
        self._writing.close()  # what is already written is sent before the descriptor closes
        self._reading.close()

    def abort(self) -> None:
        self._writing.abort()
        self._reading.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._reading.get_extra_info(name, default)
