"""Lending: the buffer is lent to one frame or one reservation at a time, and a frame that dies
unconsumed gives its bytes back.

A manager's ``_pending`` says to whom its buffer is lent: ``None`` (nobody), the outstanding
frame's ticket, ``RESERVED`` between ``reserve()`` and ``commit()``, or ``BUSY`` while a method
changes the state. A frame is live while ``manager._pending is frame._ticket``. The manager holds
the ticket, an int, and never the frame: a frame the program drops is collected, and its
finalizer calls :func:`give_back`.

Bytes leave the buffer only through ``consume()`` (or ``clear()``/``discard()``), so a frame
dropped unconsumed (a REPL's ``print(mgr.next_frame(rule))``) is not lost: its bytes stay where
they are, the next read returns them again, and a ``ResourceWarning`` says so. Two cases wait:

* A view of the frame is still alive (a slice of ``frame.view`` outlives the frame): nothing
  moves under a live view, so the frame stays outstanding, and the first call that finds the
  view gone gives the bytes back. Until then reads raise :class:`FrameLifecycleError` naming
  the view. (In the compiled core the view keeps the frame itself alive: the same behaviour.)
* The frame dies while a call is under way (on another thread, or inside a callback the call
  made): that call restores the state it saved, so the next call gives the bytes back.

Both are recorded in ``_dropped``, the ticket of the frame that died; see ``Storage._enter``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from ..._errors import FrameLifecycleError

if TYPE_CHECKING:
    from ._storage import Storage

__all__ = [
    "BUSY",
    "CONCURRENT",
    "CONSUMED",
    "EXPORTED",
    "RESERVED",
    "give_back",
    "outstanding",
    "views_alive",
]

RESERVED = object()  # _pending between reserve() and commit()
BUSY = object()  # _pending while a method changes the state
CONSUMED = object()  # a frame's ticket once consume() removed it

EXPORTED = (
    "the buffer is still exported: a slice of frame.view, memoryview(frame), an array built on "
    "the frame, or BufferManager.view() is alive; release it, then try again"
)
CONCURRENT = (
    "this BufferManager is already in use: a call from another thread (or from inside a rule "
    "or a read callback) overlapped this one; a manager serves one thread at a time"
)
#: What may hold a view of the outstanding frame: named by every error a live view causes.
VIEWS = (
    "frame.view, a slice of it, memoryview(frame), an array built on it, or a "
    "BufferManager.view() taken before"
)


def views_alive(mgr: Storage) -> bool:
    """Whether a view of the outstanding frame is still alive (any export of the buffer, in
    fact: CPython only says whether there is one). The manager's own view of the frame, from
    which ``frame.view`` hands out read-only ones, is released when no other is alive, and kept
    when one is, so that the next ``consume()`` checks again."""
    view = mgr._view
    if view is None:
        return False  # frame.view was never asked for
    view.release()  # never handed out, so it has no exports of its own
    if mgr._exported():
        mgr._view = memoryview(mgr._buf)[mgr._start : mgr._end]
        return True
    mgr._view = None
    return False


def outstanding(mgr: Storage) -> FrameLifecycleError:
    """The error for a call that needs the buffer while a frame is outstanding."""
    message = (
        f"the previous frame ({mgr._end - mgr._start} bytes) is still outstanding: call "
        "frame.consume() (or use 'with frame:') before reading the next one"
    )
    if views_alive(mgr):
        message += (
            f"; a view of it is still alive ({VIEWS}), and a frame dropped unconsumed goes "
            "back to the buffer only once its views are released"
        )
    return FrameLifecycleError(message)


def give_back(mgr: Storage, ticket: object) -> None:
    """The frame holding ``ticket`` died (or a call found it dead): if it was outstanding, its
    bytes go back to the buffer unconsumed and a ``ResourceWarning`` says so, unless a view of
    it is alive or a call is under way, which record it in ``_dropped`` for later."""
    if ticket is not mgr._issued:
        return  # an earlier frame, consumed or ended by clear()/discard()
    guard = mgr._guard  # before 3.11 only (see _threads)
    if guard is not None and not guard.acquire(False):
        mgr._dropped = ticket  # another thread is in a call: the next one gives the bytes back
        return
    try:
        state = mgr._pending
        if state is BUSY:
            mgr._dropped = ticket  # the call under way may restore the ticket: the next ends it
            return
        if state is not ticket:
            return  # consumed, or ended by clear()/discard()
        mgr._pending = BUSY
        try:
            if views_alive(mgr):
                mgr._dropped = ticket
                return
            mgr._dropped = None
            state = None
        finally:
            mgr._pending = state
    finally:
        if guard is not None:
            guard.release()
    if mgr._backlog is not None:
        mgr._settle_backlog()
    # Last: under -W error this raises, with the bytes already back.
    warnings.warn(
        f"a frame ({mgr._end - mgr._start} bytes) was dropped unconsumed: its bytes stay in "
        "the buffer and the next read returns them again (call frame.consume(), or use "
        "'with frame:', to remove them)",
        ResourceWarning,
        stacklevel=2,
    )
