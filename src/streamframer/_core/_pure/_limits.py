"""Limits: what a BufferManager does when a frame does not fit, and when the stream ends.

The third layer of :class:`~streamframer.BufferManager` (``Storage`` <- ``Reads`` <- ``Limits``
<- ``BufferManager``). Its methods run when a rule needs more bytes or a frame exceeds
``max_size``: off the per-frame path. The policies (``BufferManager(on_overflow=...,
on_eof=...)``):

* ``on_overflow="error"``: :class:`FrameTooLarge` is raised once; until the caller recovers
  (``clear()``, ``discard(n)``, a larger ``max_size``), reads raise :class:`FrameLifecycleError`
  instead of looping on the same error.
* ``on_overflow="discard"``: the oversized frame is dropped, exactly as far as its header said,
  or else up to the frame end the rule finds next (or up to where a resynchronising rule
  starts to :class:`Skip`), then :class:`FrameDiscarded` is raised once with the count. At the
  end of the stream whatever is left of it is dropped and reported at once.
* ``on_eof="raise"``: the end of the stream raises :class:`StreamClosed` with the bytes of a
  trailing partial frame (one copy); ``on_eof="frame"`` delivers them as a last frame.

Either way, once the stream has ended a read never answers "no frame yet": it returns a frame
or raises, so a loop reading until :class:`StreamClosed` always ends.
"""

from __future__ import annotations

import sys
from operator import index
from typing import TYPE_CHECKING, Literal

from ..._errors import FrameDiscarded, FrameLifecycleError, FrameTooLarge, StreamClosed
from ..._rules import FrameSpan, NeedMore, Skip, broken_condition
from ._reads import Reads

if TYPE_CHECKING:
    from ..._rules import Rule, RuleResult

__all__ = ["NO_LIMIT", "Limits", "ask"]

# max_size=None is stored as a limit no buffer can reach, so the hot path compares ints only.
NO_LIMIT = sys.maxsize


class Limits(Reads):
    """``max_size``, ``on_overflow`` and ``on_eof`` of a :class:`~streamframer.BufferManager`."""

    __slots__ = {
        "_deferred": None,
        "_discarding": None,
        "_on_eof": None,
        "_on_overflow": None,
        "_overflowed": None,
        "_owed": None,
    }

    def __init__(
        self,
        max_size: int | None,
        read_size: int,
        on_overflow: Literal["error", "discard"],
        on_eof: Literal["raise", "frame"],
    ) -> None:
        super().__init__(_check_max_size(max_size), read_size)
        self.on_overflow = on_overflow
        self.on_eof = on_eof
        self._overflowed = False  # FrameTooLarge was raised; reads wait for a recovery
        self._deferred: FrameTooLarge | None = None  # found by drain() after frames: next call
        # Discarding an oversized frame: the bytes dropped so far (None: not discarding), and
        # how many more to drop when its header gave its size.
        self._discarding: int | None = None
        self._owed = 0

    # The policies are checked when set, as on the compiled core: a typo is a ValueError at
    # once, not a policy that silently never matches.
    @property
    def on_eof(self) -> Literal["raise", "frame"]:
        """``'raise'`` or ``'frame'``: what a trailing partial frame becomes at the end."""
        return self._on_eof

    @on_eof.setter
    def on_eof(self, value: Literal["raise", "frame"]) -> None:
        if value not in ("raise", "frame"):
            raise ValueError(f"on_eof must be 'raise' or 'frame', got {value!r}")
        self._on_eof = value

    @property
    def on_overflow(self) -> Literal["error", "discard"]:
        """``'error'`` or ``'discard'``: what a frame larger than ``max_size`` gets."""
        return self._on_overflow

    @on_overflow.setter
    def on_overflow(self, value: Literal["error", "discard"]) -> None:
        if value not in ("error", "discard"):
            raise ValueError(f"on_overflow must be 'error' or 'discard', got {value!r}")
        self._on_overflow = value

    @property
    def max_size(self) -> int | None:
        """The most bytes one frame may occupy, or ``None`` for no limit. Settable: a new limit
        is a recovery after :class:`FrameTooLarge`."""
        return None if self._limit == NO_LIMIT else self._limit

    @max_size.setter
    def max_size(self, value: int | None) -> None:
        self._limit = _check_max_size(value)
        self._recovered()

    def discard(self, n: int, /) -> None:
        """Drop the first ``n`` unconsumed bytes, e.g. to skip past a corrupt frame: a recovery
        after :class:`FrameTooLarge`.

        Works in every state: an outstanding frame is ended (using it afterwards raises
        :class:`FrameLifecycleError`), unless a view of it is alive, which is refused with
        nothing changed; a reservation stays valid for its ``commit()``."""
        super().discard(n)
        self._recovered()

    def _recovered(self) -> None:
        """The caller dealt with an overflow: forget it, and any error not raised yet."""
        self._overflowed = False
        self._deferred = None
        self._rule = self._fast = None  # next_frame() starts from its checks again

    # ----------------------------------------------------------------------------------------
    # Called by BufferManager, which holds the BUSY mark

    def _need_more(self, frame_size: int | None) -> bool:
        """The rule needs more bytes: apply the end of the stream and the limit. True when that
        makes a last frame (``on_eof="frame"``, span set), else False (or raises)."""
        head = self._head
        buffered = self._tail - head
        if self._eof:
            if buffered and self.on_eof == "frame":
                self._start, self._end, self._consume = head, self._tail, self._tail
                return True
            with memoryview(self._buf) as whole:
                partial = whole[head : self._tail].tobytes()
            raise StreamClosed(partial)
        limit = self._limit
        declared = frame_size is not None and frame_size > limit
        if declared or buffered >= limit:
            size = frame_size if declared and frame_size is not None else buffered
            if self.on_overflow == "error":
                raise self._overflow(size)
            self._discarding = 0
            self._rule = self._fast = None  # routes the next next_frame() calls to _discard_step
            self._expect = 0
            if declared:
                self._owed = size
            self._discard_step(None)
        return False

    def _span(self, start: int, end: int, consume: int) -> bool:
        """A complete frame: set its span, or apply the overflow policy if it exceeds the limit
        (raising either way). Returns True."""
        size = consume - self._head
        if size > self._limit:
            if self.on_overflow == "error":
                raise self._overflow(size)
            self._discarding = 0
            self._drop(size)
            self._report_discard()
        self._start = start
        self._end = end
        self._consume = consume
        return True

    def _discard_step(self, rule: Rule | None) -> None:
        """Drop what is known to belong to the oversized frame; raise :class:`FrameDiscarded`
        once all of it is gone, or the stream has ended. ``rule`` finds where the frame ends
        when its size is unknown."""
        if self._owed:  # the size is known from a header: drop exactly that many bytes
            self._owed -= self._drop(min(self._owed, self._tail - self._head))
            if not self._owed or self._eof:  # at the end, the rest of it never comes
                self._report_discard()
            return
        if rule is not None:
            self._exact()
            self._pin_buffer()
            result = ask(rule, self._buf, self._scan, self._tail)
            if type(result) is Skip:
                # The rule resynchronises by itself: the rest of the oversized frame is its noise.
                self._drop(result.nbytes)
                self._report_discard()
            if type(result) is FrameSpan:
                self._drop(result.consume)
                self._report_discard()
            self._scan = result[0]  # NeedMore.resume
        if self._eof:
            self._drop(self._tail - self._head)
            self._report_discard()
        # Bytes the rule has examined hold no frame end: they belong to the oversized frame. If
        # the rule re-examines from the start (no progress), only dropping everything frees room.
        examined = self._scan - self._head
        if examined > 0:
            self._drop(examined)
        elif self._tail - self._head >= self._limit:
            self._drop(self._tail - self._head)

    def _overflow(self, size: int) -> FrameTooLarge:
        self._overflowed = True
        self._rule = self._fast = None  # routes the next next_frame() to the "recover first" error
        return FrameTooLarge(self._limit, size)

    def _check_recovered(self) -> None:
        if self._overflowed:
            raise FrameLifecycleError(
                f"the buffer still holds the frame that exceeded max_size={self._limit}: "
                "recover with clear(), discard(n) or a larger max_size before reading on"
            )

    def _drop(self, n: int) -> int:
        """Forget ``n`` bytes of the oversized frame being discarded."""
        self._head += n
        if self._scan < self._head:
            self._scan = self._head
        assert self._discarding is not None
        self._discarding += n
        return n

    def _report_discard(self) -> None:
        discarded, self._discarding, self._owed = self._discarding, None, 0
        raise FrameDiscarded(self._limit, discarded or 0)


def ask(rule: Rule, buf: bytearray, scan: int, size: int) -> RuleResult:
    """``rule``'s answer for the ``size`` bytes of ``buf``, checked. The bytearray is pinned
    while the rule runs (a memoryview of it is held), so that a rule resizing it gets
    ``BufferError`` and the bytes never move under the manager, as in the compiled core."""
    with memoryview(buf):
        result = rule(buf, scan)
    return checked(rule, result, size)


_FIELDS = {FrameSpan: 3, NeedMore: 2, Skip: 1}


def checked(rule: Rule, result: RuleResult, size: int) -> RuleResult:
    """``result`` if it is a valid answer of ``rule`` for a buffer of ``size`` bytes, its
    fields converted to ints (``__index__``) first."""
    kind = type(result)
    fields = _FIELDS.get(kind)
    if fields is None:
        raise TypeError(
            f"a rule must return NeedMore, FrameSpan or Skip, {rule!r} returned {result!r}"
        )
    if len(result) != fields:  # made by tuple.__new__: its repr would fail
        raise TypeError(
            f"{rule!r} returned a malformed {kind.__name__}: {len(result)} fields instead of "
            f"{fields}"
        )
    if not all(type(field) is int for field in result):
        result = _as_ints(result)
    if type(result) is FrameSpan:
        start, end, consume = result
        valid = 0 <= start <= end <= consume <= size and consume > 0
    elif type(result) is NeedMore:
        valid = 0 <= result.resume <= size
    else:
        valid = 0 < result[0] <= size  # Skip.nbytes
    if not valid:
        raise ValueError(
            f"{rule!r} returned {result!r} for a buffer of {size} bytes: "
            f"{broken_condition(result, size)}"
        )
    return result


def _check_max_size(value: int | None) -> int:
    if value is None:
        return NO_LIMIT
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_size must be an int or None, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"max_size must be positive (or None for no limit), got {value}")
    return value


def _as_ints(result: RuleResult) -> RuleResult:
    """``result`` with its fields converted by ``__index__`` (``NeedMore.frame_size`` may be
    ``None``)."""
    if type(result) is NeedMore:
        resume, frame_size = result
        return NeedMore(index(resume), None if frame_size is None else index(frame_size))
    return type(result)(*[index(field) for field in result])  # type: ignore[arg-type]
