"""The asyncio protocol, reader and writer behind :mod:`streamframer.aio`.

:class:`FramedProtocol` is an ``asyncio.BufferedProtocol``: the loop reads straight into the
manager's spare capacity (``get_buffer`` is ``BufferManager.reserve``, ``buffer_updated`` is
``commit``), so no ``bytes`` object is made per read. :class:`FramedReader` is the side a task
uses: ``await reader.read_frame()`` or ``async for frame in reader``. Decisions, and why:

* **A frame outstanding, or a view held, when bytes arrive.** A manager refuses ``reserve()``
  while a frame is outstanding (and when a view of its buffer pins it and there is no room
  left), and the loop delivers bytes whenever it likes (a task holding a frame or a
  ``manager.view()`` across an ``await``). Those bytes are read into a scratch buffer and
  ``feed()``-ed: they wait in order behind the frame, at the cost of one copy on that path
  only; the connection never fails for it. Pausing reading instead costs
  two system calls per frame (selector unregister and register) for every consumer that
  awaits while holding a frame, and stalls the stream meanwhile: measured with 64-byte lines
  and one ``await`` per frame, 0.16-0.18 M frames/s with the scratch buffer, 0.06-0.07 M with
  pausing (``asyncio.StreamReader.readline``: 0.21-0.23 M).
* **Backpressure.** Reading pauses while more than ``read_ahead`` bytes wait and no task is
  waiting for a frame (a task woken by a read is no longer waiting: a loop that reads several
  times before the task runs, as uvloop does, reads once more at most), and while the buffer
  holds ``max_size`` bytes (nothing more fits). It
  resumes as soon as a read needs bytes, or the bytes waiting drop to ``read_ahead // 2``. A
  frame larger than ``read_ahead`` still arrives: a task waiting for it keeps reading on.
* **Cancellation.** Every received byte lives in the manager, never in a coroutine, so a
  ``read_frame()`` cancelled mid-frame (``asyncio.wait_for`` timing out) loses nothing, and the
  next call returns the complete frame.
* **The loop's hold on the buffer.** A loop may keep its hold on the buffer ``get_buffer()``
  returned until ``buffer_updated()`` returns (uvloop releases it only then, the default loop
  as soon as the read is done): ``commit()`` keeps the bytes while it is held, and nothing in
  the buffer moves until it is released.
* **Unfilled reservations.** A TLS transport may call ``get_buffer()`` and then not
  ``buffer_updated()`` (the TLS record is not complete yet), and uvloop does the same for a
  read that ends the stream or fails. The reservation is given back (committed empty) before
  the manager is used again.
"""

from __future__ import annotations

import asyncio
import errno
from typing import TYPE_CHECKING, cast

from .._core import BufferManager
from .._errors import FrameLifecycleError, FrameTooLarge
from ._aio_reader import FramedReader
from ._aio_writer import FramedWriter
from ._checks import encoder_arg

if TYPE_CHECKING:
    from .._rules import Rule
    from ._writes import Encoder

__all__ = ["DEFAULT_READ_AHEAD", "FramedProtocol", "FramedReader", "FramedWriter"]

#: Default for how many received bytes may wait unread before reading pauses.
DEFAULT_READ_AHEAD = 64 * 1024
# The scratch buffer for bytes arriving while a frame is outstanding: one read's worth at most.
_SCRATCH_SIZE = 64 * 1024


class FramedProtocol(asyncio.BufferedProtocol):
    """An ``asyncio.BufferedProtocol`` that frames what the loop receives into ``manager``.

    Use it with any loop method that takes a protocol factory (``create_connection``,
    ``create_unix_connection``, ``connect_accepted_socket``, ``connect_read_pipe``, ...), then read
    frames through :attr:`reader` and write through :attr:`writer`. ``rule`` is the reader's
    default rule; ``manager`` defaults to a new ``BufferManager()``; ``encoder`` encodes what the
    writer sends (``None``: the reader's rule).
    """

    __slots__ = (
        "_closed",
        "_drained",
        "_exception",
        "_lost",
        "_mgr",
        "_paused",
        "_read_ahead",
        "_reserved",
        "_scratch",
        "_transport",
        "_waiter",
        "_write_paused",
        "encoder",
        "owed",
        "reader",
    )

    def __init__(
        self,
        rule: Rule,
        manager: BufferManager | None = None,
        *,
        read_ahead: int = DEFAULT_READ_AHEAD,
        encoder: Encoder | None = None,
    ) -> None:
        encoder_arg(encoder)
        if isinstance(read_ahead, bool) or not isinstance(read_ahead, int):
            raise TypeError(f"read_ahead must be an int, not {type(read_ahead).__name__}")
        if read_ahead < 1:
            raise ValueError(f"read_ahead must be positive, got {read_ahead}")
        if manager is not None and not isinstance(manager, BufferManager):
            raise TypeError(f"manager must be a BufferManager, not {type(manager).__name__}")
        self._mgr = BufferManager() if manager is None else manager
        self._read_ahead = read_ahead
        self._transport: asyncio.Transport | None = None
        self._reserved = False  # a get_buffer() reservation awaits its buffer_updated()
        self._scratch: bytearray | None = None  # handed out instead when reserve() cannot be
        # A task waiting for bytes; set until that task runs again, woken or not.
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._lost = False
        self._exception: BaseException | None = None
        #: What the writer's ``send()`` and ``query()`` encode with (``None``: the reader's rule).
        self.encoder = encoder
        self.owed = False  # a query timed out: its reply may still come
        #: The task-facing side: ``read_frame()`` and ``async for``.
        self.reader = FramedReader(self, rule)

    @property
    def writer(self) -> FramedWriter:
        """A :class:`FramedWriter` on this connection's transport."""
        return FramedWriter(self)

    # ----------------------------------------------------------------------------------------
    # Called by the event loop

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast("asyncio.Transport", transport)

    def get_buffer(self, sizehint: int) -> memoryview | bytearray:
        # sizehint is only advice (-1 from selector loops, 256 KiB from TLS): the manager's
        # adaptive read size keeps a slow stream from zero-filling large reservations.
        if self._reserved:
            self._settle()
        mgr = self._mgr
        try:
            view = mgr.reserve()
        except FrameLifecycleError:
            # A frame is outstanding or a view pins the buffer (or the buffer is full, and
            # reading is about to pause). feed() takes up to max_size bytes behind them.
            limit = mgr.max_size
            room = _SCRATCH_SIZE if limit is None else limit - len(mgr)
            scratch = self._scratch = bytearray(max(1, min(mgr.read_size, _SCRATCH_SIZE, room)))
            return scratch
        self._reserved = True
        return view

    def buffer_updated(self, nbytes: int) -> None:
        mgr = self._mgr
        scratch = self._scratch
        if scratch is None:
            mgr.commit(nbytes)
            self._reserved = False
        else:
            self._scratch = None
            try:
                mgr.feed(memoryview(scratch)[:nbytes])
            except FrameTooLarge as exc:
                # More than max_size bytes behind a held frame: the task hears of it, and
                # reading stops (only a loop that reads while paused gets here).
                self._exception = exc
                cast("asyncio.Transport", self._transport).pause_reading()
        self._received()

    def data_received(self, data: bytes) -> None:
        """For transports that deliver ``bytes`` instead (``connect_read_pipe``: pipes, ptys,
        serial devices): one copy into the manager."""
        self._mgr.feed(data)
        self._received()

    def _received(self) -> None:
        mgr = self._mgr
        if not self._paused:
            buffered = len(mgr)
            limit = mgr.max_size
            # A task already woken has bytes to work on: a loop that reads many times in one
            # pass (uvloop) must not read on past read_ahead before it runs.
            waiter = self._waiter
            if (buffered > self._read_ahead and (waiter is None or waiter.done())) or (
                limit is not None and buffered >= limit
            ):
                self._paused = True
                cast("asyncio.Transport", self._transport).pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._settle()
        self._mgr.feed_eof()
        self._wake()
        # Stay open for writing (a half-closed peer may still read replies), as asyncio streams
        # do; a TLS transport cannot, and says so if asked.
        transport = self._transport
        return transport is not None and transport.get_extra_info("sslcontext") is None

    def connection_lost(self, exc: Exception | None) -> None:
        self._settle()
        self._lost = True
        if isinstance(exc, OSError) and exc.errno == errno.EIO:
            exc = None  # a pty whose other end closed (Linux): the end, as in the blocking API
        if exc is not None:
            self._exception = exc
        elif not self._mgr.at_eof:
            self._mgr.feed_eof()
        self._wake()
        for future in (self._drained, self._closed):
            if future is not None and not future.done():
                future.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_result(None)
        self._drained = None

    # ----------------------------------------------------------------------------------------
    # Shared with FramedReader and FramedWriter

    def _settle(self) -> None:
        """Give back a reservation the transport never filled."""
        self._scratch = None
        if self._reserved:
            self._reserved = False
            self._mgr.commit(0)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _resume(self) -> None:
        if self._paused:
            self._paused = False
            transport = self._transport
            if transport is not None:
                transport.resume_reading()

    def _check_lost(self) -> None:
        if self._lost:
            raise self._exception or ConnectionResetError("connection lost")
