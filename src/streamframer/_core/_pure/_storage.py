"""Storage: one stream's bytes, from their arrival to ``Frame.consume()``.

The bottom layer of :class:`~streamframer.BufferManager` (``Storage`` <- ``Reads`` <- ``Limits``
<- ``BufferManager``): the bytearray and the positions in it, ``feed()`` and the bytes waiting
behind a frame or a view, moving bytes, and the lending of the buffer to one frame or one
reservation at a time. It knows nothing of rules.

Layout of ``_buf`` (absolute indices)::

    0 ........ _head ............. _scan ............ _tail ........ len(_buf)
    | consumed | unconsumed, already examined | not yet examined | spare |

Goals, in order:

* Nothing received is ever lost or reordered, whatever errors happen on the way.
* The buffer never moves under a live view. CPython refuses to resize a bytearray while a
  memoryview of it is alive, and raises before it changes anything; sliding bytes within it is
  allowed, so a slide is preceded by the exact check of :func:`exported`. Writing into the spare
  capacity needs no check at all: no view of received bytes covers it. So a read is refused, if
  it must be, before it takes anything from the source, never after.
* A cheap per-frame path: consuming only advances ``_head``. The consumed prefix is dealt with
  once a read needs the room or the prefix is over half the buffer: the unconsumed bytes slide
  to the front, into capacity already held (no reallocation, no zero-filling).

Lending (``_lending``): ``_pending`` says to whom the buffer is lent: ``None`` (nobody), the
outstanding frame's ticket, ``RESERVED`` between ``reserve()`` and ``commit()``, or ``BUSY``
while a method changes the state. Every such method checks it on entry and marks it, so a call
that overlaps another (from a second thread, or from inside a rule or a read callback) raises
:class:`FrameLifecycleError` instead of corrupting the positions. The check and the mark are
adjacent bytecodes without a call between them, which CPython 3.11 and later (with the GIL)
never interrupt; elsewhere the overlap is caught on a best-effort basis.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, TypeVar, Union, cast

from ..._errors import FrameLifecycleError, FrameTooLarge
from ._capacity import exported, extend
from ._lending import (
    BUSY,
    CONCURRENT,
    EXPORTED,
    RESERVED,
    VIEWS,
    give_back,
    outstanding,
    views_alive,
)

if TYPE_CHECKING:
    from ..._rules import Delimited, Rule

__all__ = ["BytesLike", "Storage"]

BytesLike = Union[bytes, bytearray, memoryview]
_Method = TypeVar("_Method", bound=Callable[..., Any])

# Bytes a slide copies at a time (through a temporary CPython makes).
_SLIDE_STEP = 16 * 1024
# The least room kept for the reads to come after the buffer slid or gave capacity back: a
# slide costs about what a read does, so small reads should make one only every few dozen.
SLACK = 4096

#: Whether this Python may switch threads between two bytecodes without a call between them.
NEEDS_GUARD = sys.version_info < (3, 11)


def unpinned(method: _Method) -> _Method:
    """Run ``method`` with the manager's own export of its bytearray (``_pin``) let go, so that
    it may resize the bytearray and probe for the exports of others; taken again after."""

    @functools.wraps(method)
    def run(self: Storage, *args: Any, **kwargs: Any) -> Any:
        pin = self._pin
        if pin is None:
            return method(self, *args, **kwargs)
        pin.release()
        self._pin = None
        try:
            return method(self, *args, **kwargs)
        finally:
            self._pin = memoryview(self._buf)

    return cast(_Method, run)


class Storage:
    """The bytes and the lending state of a :class:`~streamframer.BufferManager`."""

    __slots__ = (
        "__weakref__",
        "_backlog",
        "_buf",
        "_consume",
        "_dropped",
        "_end",
        "_eof",
        "_expect",
        "_fast",
        "_guard",
        "_head",
        "_issued",
        "_limit",
        "_max_read",
        "_next_read",
        "_pending",
        "_pin",
        "_reserved",
        "_reserved_size",
        "_rule",
        "_scan",
        "_start",
        "_tail",
        "_view",
        "_waiting",
    )

    def __new__(cls, *args: object, **kwargs: object) -> Storage:
        # A manager with the default settings, ready to use: one whose subclass's __init__
        # does not call BufferManager.__init__ works all the same (as on the compiled core).
        self = super().__new__(cls)
        self._set_defaults()
        return self

    def _set_defaults(self) -> None:
        raise NotImplementedError  # BufferManager: its __init__ with no arguments

    def __init__(self, limit: int, read_size: int) -> None:
        # Before 3.11 a thread switch may fall between the busy check and the mark: there the
        # public methods also hold this lock (see _threads), reentrant as they call one another.
        self._guard = threading.RLock() if NEEDS_GUARD else None
        self._buf = bytearray()
        self._head = self._scan = self._tail = 0
        # The size of the frame being received, when its header said so (0: unknown). No rule
        # is called before that many bytes are buffered.
        self._expect = 0
        # The rule next_frame may serve at once, and the same when it is a Delimited, which
        # next_frame searches inline; both None while something must be settled first (bytes
        # waiting in the backlog, an overflow, a new rule).
        self._rule: Rule | None = None
        self._fast: Delimited | None = None
        self._pending: object = None
        # The ticket of the last frame handed out, and of an outstanding one that died while it
        # could not give its bytes back yet (see _lending).
        self._issued = 0
        self._dropped: object = None
        # An export of _buf the manager holds from the first custom rule call on, so that a rule
        # that kept the bytearray cannot resize it; let go of only while the manager moves its
        # bytes itself (see unpinned).
        self._pin: memoryview | None = None
        # The outstanding frame's span, and its view once frame.view was asked for.
        self._start = self._end = self._consume = 0
        self._view: memoryview | None = None
        # Bytes fed while the buffer could not take them (a reservation outstanding, or a view
        # pinning its size), in order; _waiting counts them.
        self._backlog: list[bytes] | None = None
        self._waiting = 0
        self._reserved: memoryview | None = None
        self._reserved_size = 0  # kept apart: the caller may release the view before commit()
        self._eof = False
        self._limit = limit
        self.read_size = read_size
        self._next_read = read_size

    # ----------------------------------------------------------------------------------------
    # Inspection

    @property
    def read_size(self) -> int:
        """The most bytes one read asks the source for. Settable."""
        return self._max_read

    @read_size.setter
    def read_size(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"read_size must be an int, not {type(value).__name__}")
        if value < 1:
            raise ValueError(f"read_size must be positive, got {value}")
        self._max_read = value

    @property
    def at_eof(self) -> bool:
        """True once the end of the stream was seen (``feed_eof()`` or a closed source)."""
        return self._eof

    def __len__(self) -> int:
        """How many bytes are buffered and not yet consumed (an outstanding frame included)."""
        return self._tail - self._head + self._waiting

    def __sizeof__(self) -> int:
        """The manager's size in memory, its buffer included."""
        return object.__sizeof__(self) + sys.getsizeof(self._buf)

    def view(self) -> memoryview:
        """A read-only view of the unconsumed bytes, without copying (not while a frame or a
        reservation is outstanding: the frame is the view then).

        While it is alive the buffer cannot move or grow: reads still land in the capacity it
        has, and whatever needs more raises :class:`FrameLifecycleError`, with nothing lost, until
        the view is released (``with mgr.view() as v: ...``).
        """
        state = self._enter()
        try:
            if state is not None:
                raise self._lent(state)
            if self._backlog is not None:
                self._flush()
            return memoryview(self._buf)[self._head : self._tail].toreadonly()
        finally:
            self._pending = state

    def shrink(self) -> None:
        """Give back the spare capacity kept for the next read: the buffer then holds just its
        unconsumed bytes. For a connection about to sit idle (the asyncio reader calls it before
        it waits with nothing buffered); reads work the same afterwards. Only an economy: while
        a view of the buffer is alive it does nothing."""
        state = self._enter()
        try:
            if state is not None:
                raise self._lent(state)
            with contextlib.suppress(FrameLifecycleError):
                self._exact()
        finally:
            self._pending = state

    def discard(self, n: int, /) -> None:
        """Drop the first ``n`` unconsumed bytes, e.g. to skip past a corrupt frame.

        Works in every state: an outstanding frame is ended (using it afterwards raises
        :class:`FrameLifecycleError`), unless a view of it is alive, which is refused with
        nothing changed; a reservation stays valid for its ``commit()``."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, not {type(n).__name__}")
        state = self._enter()
        try:
            if not 0 <= n <= len(self):
                raise ValueError(f"cannot discard {n} bytes: {len(self)} are buffered")
            if state is not None and state is not RESERVED:
                if views_alive(self):
                    raise FrameLifecycleError(
                        f"cannot drop the outstanding frame ({self._end - self._start} bytes): "
                        f"a view of it is still alive ({VIEWS}); release it, then try again"
                    )
                state = None  # the frame ends here
            kept = self._tail - self._head
            self._head += min(n, kept)  # deleted lazily, like consumed frames
            self._scan = self._head
            self._expect = 0
            if n > kept:
                self._drop_waiting(n - kept)
        finally:
            self._pending = state

    def clear(self) -> None:
        """Drop every unconsumed byte: the recovery after a :class:`FrameTooLarge` or
        :class:`FramingError` when the stream cannot be resynchronised. Works in every state,
        as :meth:`discard` does."""
        self.discard(len(self))

    # ----------------------------------------------------------------------------------------
    # Bytes in

    def feed(self, data: BytesLike, /) -> None:
        """Append received bytes (the sans-IO way in).

        It may be called while a frame is outstanding or a :meth:`view` is alive (an event loop
        delivers data whenever it likes): those bytes wait behind them, in order. At most
        ``max_size`` bytes may wait behind an outstanding frame: a chunk that would go beyond
        raises :class:`FrameTooLarge` and is not taken (nothing fed earlier is lost); consume
        the frame, then feed it again.
        """
        if self._pending is None and self._backlog is None and not self._eof:
            self._pending = BUSY  # _enter() inline: feed() runs once per chunk
            try:
                if self._append(data, idle=True):
                    return
            finally:
                self._pending = None
        self._feed_behind(data)

    def feed_eof(self) -> None:
        """Mark the end of the stream: once the buffered frames are taken, ``next_frame`` raises
        :class:`StreamClosed` carrying whatever is left."""
        self._eof = True

    # ----------------------------------------------------------------------------------------
    # Moving bytes (callers hold the BUSY mark)

    def _worth_sliding(self, size: int) -> bool:
        """Whether to slide the unconsumed bytes to the front before ``size`` more bytes arrive:
        when the consumed prefix is over half the buffer, when the bytes do not fit otherwise
        and it is at least as long as what stays (so a slide never moves more bytes than were
        consumed), or when the buffer holds far more than the next frame needs."""
        head = self._head
        end = len(self._buf)
        if head > end >> 1 or (head and self._tail + size > end and 2 * head >= self._tail):
            return True
        return end - head > 2 * self._capacity_wanted(size)

    def _capacity_wanted(self, size: int) -> int:
        """The capacity to keep from ``_head`` on: the unconsumed bytes, or the last frame if
        it was larger (a stream of large frames keeps its buffer), plus the next read, and at
        least ``SLACK`` for the reads to come. The last frame's span is still in ``_start`` and
        ``_consume``."""
        kept = self._tail - self._head
        last = self._consume - self._start
        return (kept if kept > last else last) + (size if size > SLACK else SLACK)

    @unpinned
    def _slide(self) -> None:
        """Move the unconsumed bytes to the front, into the capacity already held; give back
        capacity beyond twice what the next frame needs (after an unusually large frame), and
        leave at least ``SLACK`` bytes of room."""
        buf = self._buf
        if exported(buf):  # the pin is let go of here (unpinned)
            raise FrameLifecycleError(EXPORTED)
        wanted = self._capacity_wanted(self._next_read)
        head = self._head
        kept = self._tail - head
        if head:
            # In steps: CPython copies the source of a slice assignment to a temporary first.
            for at in range(0, kept, _SLIDE_STEP):
                end = min(at + _SLIDE_STEP, kept)
                buf[at:end] = buf[head + at : head + end]
            self._head = 0
            self._scan -= head
            self._tail = kept
        if len(buf) > 2 * wanted:
            del buf[wanted:]
        elif len(buf) < kept + SLACK:
            extend(buf, kept + SLACK)  # room for the reads to come, so that slides stay rare

    @unpinned
    def _exact(self) -> None:
        """Make the buffer hold exactly the unconsumed bytes, as the rule contract promises a
        custom rule. Deleting from the front of a bytearray is amortized O(1) in CPython
        (bpo-19087). Raises :class:`FrameLifecycleError`, with nothing changed, for a view."""
        buf = self._buf
        head = self._head
        tail = self._tail
        if head or len(buf) != tail:
            try:
                del buf[tail:]
                del buf[:head]
            except BufferError:
                raise FrameLifecycleError(EXPORTED) from None
            self._head = 0
            self._scan -= head
            self._tail = tail - head

    def _feed_behind(self, data: BytesLike) -> None:
        """``feed()`` when the bytes cannot simply be appended: behind an outstanding frame or
        a reservation, after bytes already waiting, or while a view pins the buffer."""
        state = self._enter()
        try:
            if self._eof:
                raise FrameLifecycleError("feed() after feed_eof(): the stream has ended")
            size = memoryview(data).nbytes  # refuses str and int, as bytearray += does
            if state is None and self._backlog is not None:
                with contextlib.suppress(FrameLifecycleError):
                    self._flush()  # the view that kept them waiting may be gone
            if state is not None or self._backlog is not None:
                self._check_waiting(state, size)
            if (
                self._backlog is None
                and state is not RESERVED
                and self._append(data, idle=state is None)
            ):
                return
            if self._backlog is None:
                self._backlog = []
                self._rule = self._fast = None  # routes the next next_frame() to the flush
            self._backlog.append(bytes(data))
            self._waiting += size
        finally:
            self._pending = state

    @unpinned
    def _append(self, data: BytesLike, idle: bool) -> bool:
        """Copy ``data`` after the unconsumed bytes (sliding them first when ``idle`` and the
        consumed prefix is over half the buffer: never behind an outstanding frame, whose span
        must not move); False if a view pins the buffer and the bytes do not fit as it is."""
        buf = self._buf
        if idle and self._head > len(buf) >> 1:
            with contextlib.suppress(FrameLifecycleError):  # a view: append behind, if it can
                self._slide()
        tail = self._tail
        try:
            # Appending copies once (a slice assignment copies data to a temporary first).
            del buf[tail:]
            buf += data
            self._tail = len(buf)
        except BufferError:
            size = memoryview(data).nbytes
            if tail + size > len(buf):
                return False
            buf[tail : tail + size] = data  # into the spare capacity: allowed under a view
            self._tail = tail + size
        return True

    @unpinned
    def _flush(self) -> None:
        """Append the bytes that waited, each copied once, in order. Raises
        :class:`FrameLifecycleError`, with nothing lost, while a view pins the buffer."""
        backlog = self._backlog
        assert backlog is not None
        if self._worth_sliding(self._waiting):
            self._slide()
        buf = self._buf
        try:
            del buf[self._tail :]
            for chunk in backlog:
                buf += chunk  # once the spare capacity went, a view stops the first or none
        except BufferError:
            raise FrameLifecycleError(EXPORTED) from None
        self._tail = len(buf)
        self._backlog = None
        self._waiting = 0

    def _settle_backlog(self) -> None:
        """Flush the backlog now if possible, otherwise at the next read: the buffer was just
        handed back (consume, commit), and that must not fail because a view blocks the flush."""
        state = self._enter()
        try:
            if state is None:
                self._flush()
        except FrameLifecycleError:
            pass  # _rule is None while a backlog waits: next_frame() flushes it
        finally:
            self._pending = state

    def _check_waiting(self, state: object, size: int) -> None:
        """Refuse a chunk that would leave more than ``max_size`` bytes waiting behind an
        outstanding frame (or in the backlog), before anything is taken."""
        waiting = self._waiting + size
        if state is not None and state is not RESERVED:
            waiting += self._tail - self._consume  # bytes already behind the frame
        if waiting > self._limit:
            exc = FrameTooLarge(self._limit, waiting)
            exc.args = (
                f"feed() refused {size} bytes: {waiting - size} bytes already wait behind the "
                f"outstanding frame or view, max_size={self._limit}; consume the frame (or "
                "release the view), then feed them again",
            )
            raise exc

    def _drop_waiting(self, n: int) -> None:
        """Drop the first ``n`` bytes of the backlog (discard() past the buffered bytes)."""
        backlog = self._backlog
        assert backlog is not None
        self._waiting -= n
        while n:
            chunk = backlog[0]
            if len(chunk) > n:
                backlog[0] = chunk[n:]
                return
            del backlog[0]
            n -= len(chunk)
        if not backlog:
            self._backlog = None

    # ----------------------------------------------------------------------------------------
    # Lending

    @unpinned
    def _exported(self) -> bool:
        """Whether a view of the bytearray is alive (the manager's own pin aside)."""
        return exported(self._buf)

    def _pin_buffer(self) -> None:
        """A custom rule is about to get the bytearray: hold an export of it from now on."""
        if self._pin is None:
            self._pin = memoryview(self._buf)

    def _enter(self) -> object:
        """Check that no other call is under way and mark this one; returns the lending state
        to restore (callers: ``state = self._enter()``, then ``try: ... finally:``). A frame
        that died unconsumed gives its bytes back first, if it can now."""
        state = self._pending
        if state is not None and state is self._dropped:
            give_back(self, state)
            state = self._pending
        if state is BUSY:
            raise FrameLifecycleError(CONCURRENT)
        self._pending = BUSY
        return state

    def _lent(self, state: object) -> FrameLifecycleError:
        """The error for a call that needs the buffer while it is lent out as ``state``."""
        if state is RESERVED:
            return FrameLifecycleError("reserve() is waiting for its commit(): call commit() first")
        if state is BUSY:
            return FrameLifecycleError(CONCURRENT)
        return outstanding(self)

    def _refuse(self, state: object) -> None:
        """For the calls that check ``_pending`` inline: raise :meth:`_lent`, unless ``state`` is
        a frame that died unconsumed and its bytes could go back now (then ``_pending`` is
        ``None`` and the call goes on)."""
        if state is self._dropped:
            give_back(self, state)
            state = self._pending
            if state is None:
                return
        raise self._lent(state)
