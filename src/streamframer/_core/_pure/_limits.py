"""What a BufferManager does when a frame does not fit, and when the stream ends.

These run only when a rule needs more bytes or a frame exceeds ``max_size``: off the per-frame
hot path, which is why they live here and not in the manager's class. They work on the manager's
private state, as :mod:`streamframer._frame` does.

The policies (``BufferManager(on_overflow=..., on_eof=...)``):

* ``on_overflow="error"``: :class:`FrameTooLarge` is raised once; until the caller recovers,
  reads raise :class:`FrameLifecycleError` instead of looping on the same error.
* ``on_overflow="discard"``: the oversized frame is dropped, exactly as far as its header said,
  or else up to the frame end the rule finds next (or up to where a resynchronising rule
  starts to :class:`Skip`), then :class:`FrameDiscarded` is raised once with the count.
* ``on_eof="frame"`` delivers a trailing partial frame as a last frame instead of raising
  :class:`StreamClosed` with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._errors import FrameDiscarded, FrameTooLarge, StreamClosed
from ..._rules import FrameSpan, NeedMore, Skip

if TYPE_CHECKING:
    from ..._rules import Rule
    from ._buffer import BufferManager
    from ._frame import Frame

__all__ = ["discard_step", "need_more", "oversized_frame"]


def need_more(mgr: BufferManager, frame_size: int | None) -> Frame | None:
    """The rule needs more bytes: apply the end of the stream and the limit. Returns the last
    frame under ``on_eof="frame"``, else ``None`` (or raises)."""
    buffered = mgr._tail - mgr._head
    if mgr._eof:
        if buffered and mgr.on_eof == "frame":
            end = mgr._tail
            return mgr._frame(mgr._head, end, end)
        raise StreamClosed(bytes(mgr._buf[mgr._head : mgr._tail]))
    limit = mgr._limit
    declared = frame_size is not None and frame_size > limit
    if declared or buffered >= limit:
        size = frame_size if declared and frame_size is not None else buffered
        if mgr.on_overflow == "error":
            raise _overflow_error(mgr, size)
        mgr._discarded = 0
        mgr._rule = None  # routes the next next_frame() calls to discard_step
        if declared:
            mgr._skip = size
        discard_step(mgr, None)
    return None


def oversized_frame(mgr: BufferManager, size: int) -> None:
    """A complete frame of ``size`` bytes, all buffered, exceeds the limit: raise, or drop it."""
    if mgr.on_overflow == "error":
        raise _overflow_error(mgr, size)
    mgr._discarded = 0
    _drop(mgr, size)
    _report_discard(mgr)


def discard_step(mgr: BufferManager, rule: Rule | None) -> None:
    """Drop what is known to belong to the oversized frame; raise :class:`FrameDiscarded` once
    all of it is gone. ``rule`` finds where the frame ends when its size is unknown."""
    if mgr._skip:  # the size is known from a header: drop exactly that many bytes
        mgr._skip -= _drop(mgr, min(mgr._skip, mgr._tail - mgr._head))
        if not mgr._skip:
            _report_discard(mgr)
        return
    if rule is not None:
        mgr._trim()
        result = rule(mgr._buf, mgr._scan)
        if type(result) is Skip:
            # The rule resynchronises by itself: the rest of the oversized frame is its noise.
            _drop(mgr, result.nbytes)
            _report_discard(mgr)
        if type(result) is FrameSpan:
            _drop(mgr, result.consume)
            _report_discard(mgr)
        assert type(result) is NeedMore, result
        mgr._scan = result.resume
    if mgr._eof:
        _drop(mgr, mgr._tail - mgr._head)
        _report_discard(mgr)
    # Bytes the rule has examined hold no frame end: they belong to the oversized frame. If
    # the rule re-examines from the start (no progress), only dropping everything frees room.
    examined = mgr._scan - mgr._head
    if examined > 0:
        _drop(mgr, examined)
    elif mgr._tail - mgr._head >= mgr._limit:
        _drop(mgr, mgr._tail - mgr._head)


def _overflow_error(mgr: BufferManager, size: int) -> FrameTooLarge:
    mgr._overflowed = True
    mgr._rule = None  # routes the next next_frame() to the "recover first" error
    return FrameTooLarge(mgr._limit, size)


def _drop(mgr: BufferManager, n: int) -> int:
    """Forget ``n`` bytes of the oversized frame being discarded."""
    mgr._head += n
    mgr._scan = max(mgr._scan, mgr._head)
    assert mgr._discarded is not None
    mgr._discarded += n
    return n


def _report_discard(mgr: BufferManager) -> None:
    discarded, mgr._discarded, mgr._skip = mgr._discarded, None, 0
    raise FrameDiscarded(mgr._limit, discarded or 0)
