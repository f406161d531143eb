"""BufferManager: one stream's bytes, from their arrival to ``Frame.consume()``.

Goals, in order:

* Nothing received is ever lost or reordered, whatever errors happen on the way.
* Linear time: a rule resumes at the scan position the manager keeps for it, so n received bytes
  cost O(n) scanning whatever the chunking (a DoS guard as much as a speed one).
* A cheap per-frame path. Consuming only advances ``_head``; the consumed prefix is deleted from
  the bytearray lazily: before ``feed()`` appends or a custom rule is called, and before a read
  only when the read needs the room or the prefix is over half the buffer. ``del buf[:n]``
  from the front of a bytearray is amortized O(1) in CPython (bpo-19087), and CPython also gives
  the capacity back once less than half of it is in use, so a huge frame does not pin its memory.
  Built-in delimiter rules are run inline, without allocating result objects.
* Bounded memory: ``max_size`` caps the bytes one frame may occupy, and nothing is read beyond it.
  An idle manager holds an empty bytearray.

Layout of ``_buf`` (absolute indices)::

    0 ........ _head ............. _scan ............ _tail ........ len(_buf)
    | consumed | unconsumed, already examined | not yet examined | spare |

The spare capacity after ``_tail`` is kept between reads, so that a read neither zero-fills nor
resizes the bytearray in the common case; it is trimmed to about two reads when a compaction
finds more, and away entirely before a custom rule sees the buffer (the rule contract promises
exactly the unconsumed bytes).

While a frame is outstanding, its span is ``_start:_end`` and consuming it sets ``_head`` to
``_consume``. A memoryview of the buffer pins its size (CPython refuses to resize an exported
bytearray), so the buffer is only resized while no frame is outstanding, and any ``BufferError``
becomes a :class:`FrameLifecycleError` before anything has changed.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Callable, Literal, Union

from ..._errors import FrameLifecycleError, FrameTooLarge
from ..._rules import Delimited, FrameSpan, NeedMore, Skip, broken_condition
from ._batch import drain
from ._frame import Frame, _new, new_frame
from ._limits import discard_step, need_more, oversized_frame

if TYPE_CHECKING:
    from ..._rules import Rule, RuleResult

__all__ = ["DEFAULT_MAX_SIZE", "DEFAULT_READ_SIZE", "BufferManager"]

#: Default bound on the bytes one frame may occupy (16 MiB: room for big waveform blocks).
DEFAULT_MAX_SIZE = 16 * 1024 * 1024
#: Default upper bound on one read into the buffer.
DEFAULT_READ_SIZE = 64 * 1024
# The smallest read worth asking for. Reads start at read_size and adapt to what the source
# delivers, so a slow trickle does not zero-fill a large reservation for every few bytes.
_MIN_READ_SIZE = 256
# max_size=None is stored as a limit no buffer can reach, so the hot path compares ints only.
_NO_LIMIT = sys.maxsize
_ZEROS_SIZE = DEFAULT_READ_SIZE
_ZEROS = memoryview(bytes(_ZEROS_SIZE))

_RESERVED = object()  # BufferManager._pending between reserve() and commit()

_EXPORTED = (
    "the buffer is still exported: a slice of frame.view, memoryview(frame), an array built on "
    "the frame, or BufferManager.view() is alive; release it, then try again"
)

BytesLike = Union[bytes, bytearray, memoryview]


class BufferManager:
    """Owns one stream's byte buffer and the rule's scan position.

    Bytes persist across reads until a frame is consumed. ``max_size`` bounds the bytes one frame
    may occupy (header, payload and delimiter); ``None`` opts out explicitly. ``read_size`` is the
    most one read asks the source for.

    ``on_overflow`` says what happens to a frame larger than ``max_size``: ``"error"`` raises
    :class:`FrameTooLarge` and keeps the bytes for inspection; ``"discard"`` drops the frame (up to
    the end the rule finds, or the size its header declared), then raises
    :class:`FrameDiscarded` once, with the count, and carries on with the next frame.

    ``on_eof`` says what happens to a trailing partial frame when the stream ends: ``"raise"``
    raises :class:`StreamClosed` with the bytes in ``.partial``; ``"frame"`` delivers them as a
    last frame (for devices that simply close after their last message), then raises
    :class:`StreamClosed` with nothing partial.
    """

    __slots__ = (
        "__weakref__",
        "_backlog",
        "_buf",
        "_consume",
        "_deferred",
        "_discarded",
        "_end",
        "_eof",
        "_head",
        "_limit",
        "_max_read",
        "_next_read",
        "_overflowed",
        "_pending",
        "_plain",
        "_reserved",
        "_reserved_size",
        "_rule",
        "_scan",
        "_scan_rule",
        "_skip",
        "_start",
        "_tail",
        "_view",
        "on_eof",
        "on_overflow",
        "skipped",
    )

    def __init__(
        self,
        max_size: int | None = DEFAULT_MAX_SIZE,
        *,
        read_size: int = DEFAULT_READ_SIZE,
        on_overflow: Literal["error", "discard"] = "error",
        on_eof: Literal["raise", "frame"] = "raise",
    ) -> None:
        self._buf = bytearray()
        self._head = 0
        self._tail = 0  # end of the received bytes; spare capacity follows
        self._scan = 0
        self._rule: Rule | None = None  # None also routes next_frame to its slow checks
        self._scan_rule: Rule | None = None  # the rule _scan belongs to
        self._plain = False  # _rule is a Delimited without options: read_with_rule's fast path
        # What the buffer is lent out to: the outstanding Frame, or _RESERVED between reserve()
        # and commit(). Either way the buffer must not move, and reading waits.
        self._pending: object = None
        self._start = self._end = self._consume = 0
        self._view: memoryview | None = None
        self._backlog: list[bytes] | None = None
        self._reserved: memoryview | None = None
        self._reserved_size = 0  # kept apart: the caller may release the view before commit()
        self._eof = False
        self._limit = _check_max_size(max_size)
        self.read_size = read_size
        self._next_read = read_size
        if on_overflow not in ("error", "discard"):
            raise ValueError(f"on_overflow must be 'error' or 'discard', got {on_overflow!r}")
        if on_eof not in ("raise", "frame"):
            raise ValueError(f"on_eof must be 'raise' or 'frame', got {on_eof!r}")
        self.on_overflow = on_overflow
        self.on_eof = on_eof
        # Discard policy state: bytes dropped so far of an oversized frame (None: not dropping),
        # and how many more to drop when its size is known from a header.
        self._overflowed = False
        self._deferred: FrameTooLarge | None = None
        self._discarded: int | None = None
        self._skip = 0
        #: Bytes rules skipped as belonging to no frame (:class:`Skip`), over the stream's life.
        self.skipped = 0

    # ----------------------------------------------------------------------------------------
    # Inspection and recovery

    @property
    def max_size(self) -> int | None:
        """The most bytes one frame may occupy, or ``None`` for no limit. Settable."""
        return None if self._limit == _NO_LIMIT else self._limit

    @max_size.setter
    def max_size(self, value: int | None) -> None:
        self._limit = _check_max_size(value)
        self._overflowed = False

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
        size = self._tail - self._head
        if self._backlog is not None:
            size += sum(map(len, self._backlog))
        return size

    def __sizeof__(self) -> int:
        """The manager's size in memory, its buffer included."""
        return object.__sizeof__(self) + sys.getsizeof(self._buf)

    def view(self) -> memoryview:
        """A read-only view of the unconsumed bytes, without copying (not while a frame or a
        reservation is outstanding: the frame is the view then).

        Release it (``with mgr.view() as v: ...``) before the next read: while it is alive the
        buffer cannot grow, and reads raise :class:`FrameLifecycleError`.
        """
        self._check_idle()
        self._flush_backlog()
        return memoryview(self._buf)[self._head : self._tail].toreadonly()

    def shrink(self) -> None:
        """Give back the spare capacity kept for the next read: the buffer then holds just its
        unconsumed bytes. For a connection about to sit idle (the asyncio reader calls it before
        it waits with nothing buffered); reads work the same afterwards."""
        self._check_idle()
        self._trim()

    def clear(self) -> None:
        """Drop every unconsumed byte: the recovery after a :class:`FrameTooLarge` or
        :class:`FramingError` when the stream cannot be resynchronised."""
        self.discard(len(self))

    def discard(self, n: int) -> None:
        """Drop the first ``n`` unconsumed bytes, e.g. to skip past a corrupt frame."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, not {type(n).__name__}")
        self._check_idle()
        self._flush_backlog()
        if not 0 <= n <= self._tail - self._head:
            raise ValueError(f"cannot discard {n} bytes: {self._tail - self._head} are buffered")
        self._head += n  # deleted lazily, like consumed frames
        self._scan = self._head
        self._overflowed = False

    # ----------------------------------------------------------------------------------------
    # Bytes in

    def feed(self, data: BytesLike) -> None:
        """Append received bytes (the sans-IO way in).

        It may be called while a frame is outstanding or a :meth:`view` is alive (an event loop
        delivers data whenever it likes); those bytes wait, in order, until the buffer is free.
        """
        if self._pending is not None or self._backlog is not None or self._eof:
            if self._eof:
                raise FrameLifecycleError("feed() after feed_eof(): the stream has ended")
            data = bytes(memoryview(data))  # refuses str and int, as bytearray += does
            if self._backlog is None:
                self._backlog = []
            self._backlog.append(data)  # after the backlog, in order; the next read appends it
            return
        try:
            self._trim()
            self._buf += data
            self._tail = len(self._buf)
        except (BufferError, FrameLifecycleError):
            # A view() of the buffer is alive. Event loops deliver bytes when they like, so
            # feeding never fails for it: the bytes wait, in order, and the next read appends
            # them (or reports the view that still blocks it).
            self._backlog = [bytes(memoryview(data))]
            self._rule = None

    def feed_eof(self) -> None:
        """Mark the end of the stream: once the buffered frames are taken, ``next_frame`` raises
        :class:`StreamClosed` carrying whatever is left."""
        self._eof = True

    def reserve(self, size: int | None = None) -> memoryview:
        """Spare capacity at the end of the buffer, for a zero-copy read (``recv_into``,
        ``readinto``, ``asyncio.BufferedProtocol.get_buffer``).

        Write up to ``len(view)`` bytes into the returned view, then call ``commit(nbytes)``
        (also with ``0`` when the read failed). ``size`` defaults to an adaptive read size, and is
        capped so that the buffer never holds more than ``max_size`` bytes.
        """
        if self._pending is not None or self._backlog is not None or self._eof:
            if self._eof:
                raise FrameLifecycleError("reserve() after feed_eof(): the stream has ended")
            self._check_idle()
            self._flush_backlog()
        if self._head:
            self._compact()
        buf = self._buf
        at = self._tail
        room = self._limit - at
        if size is None:
            size = self._next_read
        elif size < 1:
            raise ValueError(f"reserve() needs a positive size or None, got {size}")
        if size > room:
            if room <= 0:
                raise self._full()
            size = room
        missing = at + size - len(buf)
        if missing > 0:
            try:
                buf += _ZEROS[:missing] if missing <= _ZEROS_SIZE else bytes(missing)
            except BufferError:
                raise FrameLifecycleError(_EXPORTED) from None
        view = self._reserved = memoryview(buf)[at : at + size]
        self._reserved_size = size
        self._pending = _RESERVED
        return view

    def commit(self, nbytes: int) -> None:
        """Keep the first ``nbytes`` written into the view ``reserve()`` returned."""
        view = self._reserved
        if view is None:
            raise FrameLifecycleError("commit() without reserve()")
        if not 0 <= nbytes <= self._reserved_size:
            raise ValueError(f"commit({nbytes}) outside the {self._reserved_size} reserved bytes")
        view.release()
        if _exported(self._buf):
            raise FrameLifecycleError(
                "the view reserve() returned is still exported (a slice of it, or an array on "
                "it); release it, then commit() again"
            )
        self._reserved = None
        self._pending = None
        self._tail += nbytes
        self._plan_next_read(nbytes, self._reserved_size)
        if self._backlog is not None:
            self._settle_backlog()

    def _fill(self, read_into: Callable[[memoryview], int | None]) -> int | None:
        """One zero-copy read for the I/O adapters: ``reserve()``, ``read_into(view)`` and
        ``commit()`` in one call. Returns what ``read_into`` returned: a count, ``0`` at the end
        of the stream (not recorded here: the adapter calls ``feed_eof()``), ``None`` from a
        non-blocking source with nothing to read. Raises :class:`FrameLifecycleError` before
        calling ``read_into`` when the bytes would have to move under a live view, and keeps
        whatever ``read_into`` delivered."""
        from ._reads import fill

        return fill(self, read_into)

    # ----------------------------------------------------------------------------------------
    # Frames out

    def next_frame(self, rule: Rule) -> Frame | None:
        """The next complete frame according to ``rule``, or ``None`` if more bytes are needed.

        Returns ``None`` if, and only if, the buffered bytes hold no complete frame. Raises
        :class:`FrameLifecycleError` while the previous frame is outstanding, :class:`FrameTooLarge`
        when the frame cannot fit in ``max_size``, and :class:`StreamClosed` when the stream has
        ended and no complete frame is left.
        """
        if self._pending is not None:
            raise self._outstanding()
        if rule is not self._rule:
            # Overflows clear _rule, so that their state is checked here, off the hot path.
            if self._deferred is not None:
                exc, self._deferred = self._deferred, None
                raise exc
            if self._backlog is not None:
                self._flush_backlog()
            if self._overflowed:
                raise FrameLifecycleError(
                    f"the buffer still holds the frame that exceeded max_size={self._limit}: "
                    "recover with clear(), discard(n) or a larger max_size before reading on"
                )
            if self._discarded is not None:
                discard_step(self, rule)
                return None  # still inside the frame (the step raises once it is gone)
            # What one rule examined says nothing to another: start this one afresh (an equal
            # rule, built anew, carries on).
            if rule != self._scan_rule:
                self._scan = self._head
            self._rule = self._scan_rule = rule
            self._plain = type(rule) is Delimited and rule._plain
        buf = self._buf
        if type(rule) is Delimited and not rule.skip_empty:
            # Delimited.__call__ inline, the per-frame hot path: no compaction, no result objects.
            index = buf.find(rule._needle, self._scan, self._tail)
            if index < 0:
                # The delimiter may have begun in the last len(delimiter) - 1 bytes.
                size = self._tail
                scan = size - rule._length + 1
                self._scan = scan if scan > self._head else self._head
                if size - self._head < self._limit and not self._eof:
                    return None
                return need_more(self, None)
            head = self._head
            consume = index + rule._length
            if consume - head > self._limit:
                return self._frame(head, index, consume)  # raises or discards
            if rule.keep_delimiter:
                index = consume
            elif rule.strip is not None and index > head and buf[index - 1] == rule.strip:
                index -= 1
            self._start = head
            self._end = index
            self._consume = consume
            frame: Frame = _new(Frame)
            frame._mgr = self
            self._pending = frame
            return frame

        self._trim()
        result = rule(buf, self._scan)
        while type(result) is Skip:
            self._skip_bytes(rule, result)
            result = rule(buf, self._scan)
        if type(result) is FrameSpan:
            start, end, consume = result
            if not 0 <= start <= end <= consume <= len(buf) or consume == 0:
                raise _broken(rule, result, len(buf))
            return self._frame(start, end, consume)
        if type(result) is NeedMore:
            if not 0 <= result.resume <= len(buf):
                raise _broken(rule, result, len(buf))
            self._scan = result.resume
            return need_more(self, result.frame_size)
        raise TypeError(
            f"a rule must return NeedMore, FrameSpan or Skip, {rule!r} returned {result!r}"
        )

    def _skip_bytes(self, rule: Rule, result: Skip) -> None:
        """Drop the bytes a rule said belong to no frame (noise before a start marker)."""
        count = result.nbytes
        if not 0 < count <= self._tail - self._head:
            raise _broken(rule, result, len(self))
        self._head += count
        self._scan = self._head
        self.skipped += count
        self._compact()

    def drain(self, rule: Rule) -> list[bytes]:
        """Every complete frame buffered now, as ``bytes`` copies, all consumed.

        The batch path: for many small frames it is several times faster than taking frames one
        by one (delimiter rules split in C), at the price of one copy of each payload. It raises
        like :meth:`next_frame`, but only once the frames before the trouble were returned by
        an earlier call: frames already found are never dropped.
        """
        return drain(self, rule)

    # ----------------------------------------------------------------------------------------
    # Internals shared with Frame and the I/O adapters

    def _frame(self, start: int, end: int, consume: int) -> Frame:
        limit = self._limit
        if consume - self._head > limit:
            oversized_frame(self, consume - self._head)
        self._start = start
        self._end = end
        self._consume = consume
        frame = self._pending = new_frame(self)
        return frame

    def _plan_next_read(self, got: int, asked: int) -> None:
        """Size the next read after one that brought ``got`` of ``asked`` bytes, and keep about
        that much spare capacity (an idle connection should not hold a large buffer)."""
        self._next_read = wanted = next_read_size(got, asked, self._max_read)
        if len(self._buf) - self._tail > wanted:
            # Only an economy: whoever holds an export hears of it from the caller.
            with contextlib.suppress(BufferError):
                del self._buf[self._tail + wanted :]

    def _read_size(self) -> int:
        """How much a copying read (``recv``) should ask for: the adaptive read size, capped so
        that the buffer never holds more than ``max_size`` bytes."""
        room = self._limit - len(self)
        if room <= 0:
            raise self._full()
        return self._next_read if self._next_read < room else room

    def _compact(self) -> None:
        """Delete the consumed prefix, so that index 0 is the first unconsumed byte."""
        head = self._head
        if head:
            try:
                del self._buf[:head]
            except BufferError:
                raise FrameLifecycleError(_EXPORTED) from None
            self._head = 0
            self._scan -= head
            self._tail -= head

    def _trim(self) -> None:
        """Compact, and drop the spare capacity: the buffer then holds exactly the unconsumed
        bytes, as the rule contract promises a custom rule."""
        if self._head:
            self._compact()
        if len(self._buf) != self._tail:
            try:
                del self._buf[self._tail :]
            except BufferError:
                raise FrameLifecycleError(_EXPORTED) from None

    def _flush_backlog(self) -> None:
        """Append the bytes fed while the buffer was lent out, once it is free. Raises
        :class:`FrameLifecycleError`, with nothing lost, while a view of the buffer is alive."""
        backlog = self._backlog
        if backlog is not None and self._pending is None:
            self._trim()
            try:
                self._buf += b"".join(backlog)
            except BufferError:
                raise FrameLifecycleError(_EXPORTED) from None
            self._tail = len(self._buf)
            self._backlog = None

    def _full(self) -> FrameLifecycleError:
        # next_frame raises FrameTooLarge when a full buffer holds no frame, so a read into a
        # full buffer means frames were left untaken.
        return FrameLifecycleError(
            f"the buffer is full ({len(self)} bytes, max_size={self._limit}): take the buffered "
            "frames with next_frame() before reading more"
        )

    def _settle_backlog(self) -> None:
        """Flush the backlog now if possible, otherwise at the next read: the buffer was just
        handed back (consume, commit), and that must not fail because a view blocks the flush."""
        try:
            self._flush_backlog()
        except FrameLifecycleError:
            self._rule = None  # routes the next next_frame() to the flush

    def _check_idle(self) -> None:
        if self._pending is not None:
            raise self._outstanding()

    def _outstanding(self) -> FrameLifecycleError:
        if self._pending is _RESERVED:
            return FrameLifecycleError("reserve() is waiting for its commit(): call commit() first")
        return FrameLifecycleError(
            f"the previous frame ({self._end - self._start} bytes) is still outstanding: "
            "call frame.consume() (or use 'with frame:') before reading the next one"
        )

    def __repr__(self) -> str:
        state = " frame outstanding" if self._pending is not None else ""
        eof = " eof" if self._eof else ""
        return f"<BufferManager {len(self)} bytes buffered, max_size={self.max_size}{state}{eof}>"


def next_read_size(got: int, asked: int, most: int) -> int:
    """The size of the next read, after one that brought ``got`` of ``asked`` bytes. A full read
    suggests more is waiting: twice as much. A short one shows what the source delivers: about
    that. At least ``_MIN_READ_SIZE``, at most ``most`` (the manager's read_size)."""
    wanted = 2 * got if got == asked else got
    if wanted < _MIN_READ_SIZE:
        wanted = _MIN_READ_SIZE
    return most if wanted > most else wanted  # read_size wins, even below the minimum


def _exported(buf: bytearray) -> bool:
    """Whether a memoryview of ``buf`` is alive somewhere. CPython only tells by refusing to
    resize it, so shrink it by one byte and put the byte back (shrinking never reallocates
    here, and ``del`` checks before it changes anything, unlike ``pop``)."""
    if not buf:
        try:
            buf.append(0)
        except BufferError:
            return True
        del buf[:]
        return False
    last = buf[-1]
    try:
        del buf[-1:]
    except BufferError:
        return True
    buf.append(last)
    return False


def _broken(rule: Rule, result: RuleResult, buffered: int) -> ValueError:
    return ValueError(
        f"{rule!r} returned {result!r} for a buffer of {buffered} bytes: "
        f"{broken_condition(result, buffered)}"
    )


def _check_max_size(value: int | None) -> int:
    if value is None:
        return _NO_LIMIT
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_size must be an int or None, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"max_size must be positive (or None for no limit), got {value}")
    return value
