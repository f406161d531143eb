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
  waiting for a frame, and while the buffer holds ``max_size`` bytes (nothing more fits). It
  resumes as soon as a read needs bytes, or the bytes waiting drop to ``read_ahead // 2``. A
  frame larger than ``read_ahead`` still arrives: a task waiting for it keeps reading on.
* **Cancellation.** Every received byte lives in the manager, never in a coroutine, so a
  ``read_frame()`` cancelled mid-frame (``asyncio.wait_for`` timing out) loses nothing, and the
  next call returns the complete frame.
* **Unfilled reservations.** A TLS transport may call ``get_buffer()`` and then not
  ``buffer_updated()`` (the TLS record is not complete yet). The reservation is given back
  (committed empty) before the manager is used again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

from .._core import BufferManager
from .._errors import FrameLifecycleError, FrameTooLarge, StreamClosed
from ._aio_writer import FramedWriter
from ._checks import encoder_arg, rule_arg

if TYPE_CHECKING:
    from .._core import Frame
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
            self._reserved = False
            mgr.commit(nbytes)
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
            if (buffered > self._read_ahead and self._waiter is None) or (
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


class FramedReader:
    """Frames from a :class:`FramedProtocol`: ``await read_frame()`` or ``async for``.

    ``rule`` is the default rule (settable; ``read_frame(rule)`` overrides it for one frame, for
    protocols that switch framing, such as a length-prefixed block after a text header).
    """

    __slots__ = ("_protocol", "_yielded", "rule")

    def __init__(self, protocol: FramedProtocol, rule: Rule) -> None:
        rule_arg(rule)
        self._protocol = protocol
        self._yielded: Frame | None = None
        self.rule = rule

    @property
    def manager(self) -> BufferManager:
        """The connection's :class:`BufferManager` (its limits, policies and buffered bytes)."""
        protocol = self._protocol
        if protocol._reserved:
            protocol._settle()
        return protocol._mgr

    def read_frame(self, rule: Rule | None = None) -> Coroutine[Any, Any, Frame]:
        """Wait for the next complete frame (``await reader.read_frame()``); the caller
        consumes it.

        Returns a buffered frame at once. Raises :class:`StreamClosed` at the end of the stream
        (with ``.partial`` if it ended inside a frame), :class:`FrameTooLarge` when the frame
        cannot fit in ``max_size``, the connection's error if it was lost with one, and
        :class:`FrameLifecycleError` while the previous frame is outstanding. Cancelling it (a
        timeout) loses nothing: the next call carries on with every byte received. After an
        ``async for`` left early, its last frame is yours: dropped unconsumed, it is read again.
        """
        self._yielded = None  # the loop's hold: a frame the caller dropped goes back
        return _read(self, self.rule if rule is None else rule, False)

    def reset_input_buffer(self) -> int:
        """Drop every byte received and not yet framed; return how many (pyserial's name).

        The loop reads bytes as they arrive, so this is what the connection has received up to
        the loop's last pass; a late reply still on its way comes after it. The next
        ``writer.query()`` after one timed out does this itself.
        """
        mgr = self.manager
        dropped = len(mgr)
        mgr.clear()
        self._protocol.owed = False
        self._protocol._resume()  # read on, if a full buffer had paused reading
        return dropped

    def __aiter__(self) -> FramedReader:
        return self

    def __anext__(self) -> Coroutine[Any, Any, Frame]:
        """The next frame, after consuming the one the previous step gave (unless the loop
        body did). Ends cleanly when the peer closes between frames; a close inside a frame
        raises :class:`StreamClosed`. A frame kept past its step is gone: copy it first."""
        previous = self._yielded
        if previous is not None:
            self._yielded = None
            if not previous.consumed:
                previous.consume()
        return _read(self, self.rule, True)

    def __repr__(self) -> str:
        return f"<FramedReader rule={self.rule!r} {self._protocol._mgr!r}>"


async def _read(reader: FramedReader, rule: Rule, iterating: bool) -> Frame:
    """``read_frame()`` and ``__anext__()``: one coroutine per frame, the only one a waiting
    connection holds (thousands of idle connections each keep one)."""
    protocol = reader._protocol
    mgr = protocol._mgr
    try:
        while True:
            if protocol._reserved:
                protocol._settle()
            if protocol._paused and len(mgr) <= protocol._read_ahead // 2:
                protocol._resume()  # the task caught up: read on before it runs dry
            frame = mgr.next_frame(rule)
            if frame is not None:
                if iterating:
                    reader._yielded = frame
                return frame
            if protocol._exception is not None:
                raise protocol._exception
            protocol._resume()
            if not len(mgr):
                # Idle connections, thousands of them, hold no spare capacity (an economy: a
                # view the task holds only postpones it).
                with contextlib.suppress(FrameLifecycleError):
                    mgr.shrink()
            if protocol._waiter is not None:
                raise RuntimeError("read_frame() called while another task is waiting for a frame")
            waiter = protocol._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                protocol._waiter = None
    except StreamClosed as exc:
        if iterating and not exc.partial:
            raise StopAsyncIteration from None
        raise
