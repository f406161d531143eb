"""BufferManager: one stream's bytes, from their arrival to ``Frame.consume()``.

Built in four layers, each in its own module, each importing only the ones below:
``Storage`` (``_storage``: the bytes, ``feed()``, lending the buffer to one frame at a time),
``Reads`` (``_reads``: ``reserve()``/``commit()`` and ``_fill()``, the zero-copy ways in),
``Limits`` (``_limits``: ``max_size`` and the end of the stream), and ``BufferManager`` here:
rules in, frames out.

Goals, in order:

* Nothing received is ever lost or reordered, whatever errors happen on the way.
* Linear time: a rule resumes at the scan position the manager keeps for it, so n received bytes
  cost O(n) scanning whatever the chunking (a DoS guard as much as a speed one). Once a rule has
  said how long the frame is (``NeedMore.frame_size``), it is not called again until that many
  bytes are buffered.
* A cheap per-frame path: :class:`Delimited` rules are searched inline in :meth:`next_frame`,
  the one fast path, without compaction or result objects; every other rule is called under the
  public rule contract, with the buffer holding exactly the unconsumed bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, cast

from ..._errors import FrameLifecycleError, FrameTooLarge
from ..._rules import Delimited, FrameSpan, NeedMore, Skip
from ._batch import split_frames
from ._frame import Frame
from ._lending import BUSY, EXPORTED, RESERVED
from ._limits import Limits, ask
from ._storage import unpinned

if TYPE_CHECKING:
    from ..._rules import Rule

__all__ = ["DEFAULT_MAX_SIZE", "DEFAULT_READ_SIZE", "BufferManager"]

#: Default bound on the bytes one frame may occupy (16 MiB: room for big waveform blocks).
DEFAULT_MAX_SIZE = 16 * 1024 * 1024
#: Default upper bound on one read into the buffer.
DEFAULT_READ_SIZE = 64 * 1024

_new: Any = object.__new__  # makes a Frame without the guard in Frame.__init__


class BufferManager(Limits):
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
    :class:`StreamClosed` with nothing partial. After the end of the stream, ``next_frame``
    never returns ``None``.

    Threads: a manager serves one thread at a time and takes no locks. Using it from two threads
    at once (a feeding thread and a reading thread, say) is detected rather than silently
    mangling frames: the call that overlaps another raises :class:`FrameLifecycleError` and
    changes nothing. Calls from different threads that do not overlap are fine. Detection is
    exact on CPython 3.11 and later with the GIL, best effort elsewhere (free-threaded builds,
    3.9, 3.10): hand bytes from a reading thread to the framing thread through a queue.

    The I/O adapters read through ``_fill(read_into)``, the one per-read entry point, which
    both cores provide (see ``Reads._fill``).
    """

    __slots__ = {
        "_scan_rule": "The rule _scan belongs to.",
        "skipped": "Bytes rules skipped as belonging to no frame (:class:`Skip`), over the "
        "stream's life.",
    }

    def __init__(
        self,
        max_size: int | None = DEFAULT_MAX_SIZE,
        *,
        read_size: int = DEFAULT_READ_SIZE,
        on_overflow: Literal["error", "discard"] = "error",
        on_eof: Literal["raise", "frame"] = "raise",
    ) -> None:
        super().__init__(max_size, read_size, on_overflow, on_eof)
        self._scan_rule: Rule | None = None
        self.skipped = 0

    def _set_defaults(self) -> None:
        BufferManager.__init__(self)

    def next_frame(self, rule: Rule, /) -> Frame | None:
        """The next complete frame according to ``rule``, or ``None`` if more bytes are needed.

        Returns ``None`` if, and only if, the buffered bytes hold no complete frame and the
        stream has not ended. Raises :class:`FrameLifecycleError` while the previous frame is
        outstanding, :class:`FrameTooLarge` when the frame cannot fit in ``max_size``, and
        :class:`StreamClosed` when the stream has ended and no complete frame is left.
        """
        if rule is not self._fast or self._pending is not None:
            if self._pending is not None:
                self._refuse(self._pending)
            if rule is not self._rule and not self._prepare(rule):
                return None
            if rule is not self._fast:
                expect = self._expect
                if self._tail - self._head < expect <= self._limit and not self._eof:
                    return None  # the header said how long the frame is: not all there yet
                return self._take(rule)
        # Delimited.__call__ inline, the per-frame hot path: no compaction, no result objects.
        self._pending = BUSY
        head = self._head
        tail = self._tail
        index = self._buf.find(rule._needle, self._scan, tail)
        if index >= 0:
            consume = index + rule._length
            if consume - head <= self._limit:
                if not rule._plain:
                    if rule.keep_delimiter:
                        index = consume
                    elif index > head and self._buf[index - 1] == rule.strip:
                        index -= 1
                self._start = head
                self._end = index
                self._consume = consume
                frame: Frame = _new(Frame)
                frame._mgr = self
                ticket = frame._ticket = self._issued + 1
                self._issued = self._pending = ticket
                return frame
        else:
            # The delimiter may have begun in the last len(delimiter) - 1 bytes.
            scan = tail - rule._length + 1
            self._scan = scan if scan > head else head
            if tail - head < self._limit and not self._eof:
                self._pending = None
                return None
        self._pending = None
        return self._take(rule, index, index + rule._length)  # oversized, full, or at the end

    def drain(self, rule: Rule, /) -> list[bytes]:
        """Every complete frame buffered now, as ``bytes`` copies, all consumed.

        The batch path: for many small frames it is several times faster than taking frames one
        by one (delimiter rules split in C), at the price of one copy of each payload. It raises
        like :meth:`next_frame`, but only once the frames before the trouble were returned by
        an earlier call: frames already found are never dropped.
        """
        if self._pending is not None:
            self._refuse(self._pending)
        if type(rule) is Delimited and rule._plain:
            state = self._enter()
            try:
                if rule is not self._rule and not self._ready(rule):
                    return []
                payloads = self._split(rule)
            finally:
                self._pending = state
            if payloads is not None:
                return payloads
        payloads = []
        try:
            while (frame := self.next_frame(rule)) is not None:
                payloads.append(frame.tobytes())
                frame.consume()
        except FrameTooLarge as exc:
            if not payloads:
                raise
            # Raised once, on the next call, after the frames that came before it.
            self._deferred = exc
            self._rule = self._fast = None
        except Exception:
            if not payloads:
                raise
            # Nothing was consumed for the failing frame, so the next call meets it again.
        return payloads

    # ----------------------------------------------------------------------------------------
    # The general path (under the BUSY mark)

    def _prepare(self, rule: Rule) -> bool:
        """:meth:`_ready`, under the ``BUSY`` mark."""
        state = self._enter()
        try:
            return self._ready(rule)
        finally:
            self._pending = state

    def _ready(self, rule: Rule) -> bool:
        """Settle what must be settled before ``rule`` may look for a frame: an error deferred
        by :meth:`drain`, bytes waiting in the backlog, an overflow. False while an oversized
        frame is still being discarded (more of it must arrive)."""
        if self._deferred is not None:
            exc, self._deferred = self._deferred, None
            raise exc
        if self._backlog is not None:
            self._flush()
        self._check_recovered()
        if self._discarding is not None:
            self._discard_step(rule)
            return False
        # What one rule examined says nothing to another: start this one afresh (an equal
        # rule, built anew, carries on).
        if rule != self._scan_rule:
            self._scan = self._head
            self._expect = 0
        self._rule = self._scan_rule = rule
        # skip_empty turns empty frames into Skip: that one goes through the rule contract.
        self._fast = rule if type(rule) is Delimited and not rule.skip_empty else None
        return True

    def _take(self, rule: Rule, index: int | None = None, consume: int = 0) -> Frame | None:
        """``next_frame`` beyond its fast path. For a :class:`Delimited` rule the fast path left
        to it, ``index`` is where it found the delimiter (-1: nowhere) and ``consume`` where the
        frame would end; ``None`` for any other rule."""
        state = self._enter()
        frame = None
        try:
            if index is None:
                found = self._find(rule)
            elif index < 0:
                found = self._need_more(None)
            else:
                found = self._span(self._head, index, consume)
            if found:
                frame = _new(Frame)
                frame._mgr = self
                state = frame._ticket = self._issued + 1
                self._issued = state
        finally:
            self._pending = state
        return frame

    def _find(self, rule: Rule) -> bool:
        """Call ``rule`` under the public contract; True with the span set if a frame is
        complete, False if more bytes are needed (or raises)."""
        if self._eof and self._tail == self._head:
            return self._need_more(None)  # nothing left for the rule: the end of the stream
        self._exact()
        self._pin_buffer()
        buf = self._buf
        result = ask(rule, buf, self._scan, self._tail)
        while type(result) is Skip:
            self._skip(result.nbytes)
            result = ask(rule, buf, 0, self._tail)
        if type(result) is FrameSpan:
            self._expect = 0
            return self._span(*result)
        resume, frame_size = cast(NeedMore, result)  # checked() lets no fourth kind through
        self._scan = resume
        self._expect = frame_size or 0
        return self._need_more(frame_size)

    @unpinned
    def _skip(self, count: int) -> None:
        """Drop the bytes a rule said belong to no frame (noise before a start marker). The
        buffer moves first, so a view that refuses it leaves everything as it was."""
        try:
            del self._buf[:count]
        except BufferError:
            raise FrameLifecycleError(EXPORTED) from None
        self._tail -= count
        self._scan = 0
        self.skipped += count

    def _split(self, rule: Delimited) -> list[bytes] | None:
        """``drain`` for a plain delimiter; ``None`` when the frame-by-frame path must decide
        (an oversized frame)."""
        head = self._head
        tail = self._tail
        found = split_frames(self._buf, head, tail, self._scan, rule.delimiter, self._limit)
        if found is None:
            return None
        payloads, head = found
        self._head = head
        # The delimiter may have begun in the last len(delimiter) - 1 bytes.
        scan = tail - rule._length + 1
        self._scan = scan if scan > head else head
        if not payloads and self._need_more(None):  # the tail at the end, with on_eof="frame"
            with memoryview(self._buf) as whole:
                payloads.append(whole[self._start : self._end].tobytes())
            self._head = self._scan = self._consume
        return payloads

    def __repr__(self) -> str:
        state = self._pending
        if state is None:
            lent = ""
        elif state is RESERVED:
            lent = " reserved"
        elif state is BUSY:
            lent = " in use"
        else:
            lent = " frame outstanding"
        eof = " eof" if self._eof else ""
        return f"<BufferManager {len(self)} bytes buffered, max_size={self.max_size}{lent}{eof}>"
