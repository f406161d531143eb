"""The per-read path of a :class:`BufferManager`: one zero-copy read into its spare capacity.

A read runs once per ``recv_into``, so it is built to do almost nothing in the common case: the
bytes land in spare capacity kept after the unconsumed ones, with no compaction, resize or
zero-filling; the consumed prefix is only dealt with once a read needs the room or the prefix is
over half the buffer (``make_room``, which then leaves room for the reads that follow). These
work on the manager's private state, as ``_frame`` and ``_limits`` do; the socket adapter's
``read_with_rule`` carries a copy of ``fill`` inline, its hottest path.

Exports: a memoryview of the buffer that outlives a call forbids writing or resizing it. Every
export holds a reference to the bytearray, so a reference count equal to the manager's own
(``UNSHARED``) proves there is none, at a fraction of the cost of asking by a resize
(``_exported``); any other count takes that exact check.
"""

from __future__ import annotations

from sys import getrefcount
from typing import TYPE_CHECKING, Callable

from ..._errors import FrameLifecycleError
from ._buffer import _EXPORTED, _ZEROS, _ZEROS_SIZE, _exported, next_read_size

if TYPE_CHECKING:
    from ._buffer import BufferManager

__all__ = ["UNSHARED", "check_kept", "check_unexported", "fill", "make_room"]

# sys.getrefcount of a buffer nothing else refers to, seen from a function holding it in a local:
# the manager's slot, the local and the argument (3 on CPython 3.9-3.13).
UNSHARED = 3
# The least spare capacity left after a compaction: room for several small reads before the next.
_MIN_SLACK = 1024


def fill(mgr: BufferManager, read_into: Callable[[memoryview], int | None]) -> int | None:
    """One zero-copy read for the I/O adapters: ``reserve()``, ``read_into(view)`` and
    ``commit()`` in one call, since it runs once per read. Returns what ``read_into``
    returned: a count, ``0`` at the end of the stream, ``None`` from a non-blocking stream
    with nothing to read."""
    if mgr._pending is not None or mgr._backlog is not None:
        mgr._check_idle()
        mgr._flush_backlog()
    buf = mgr._buf
    at = mgr._tail
    size = mgr._next_read
    # The common read lands in the spare capacity as it is: no compaction, no resize. The
    # consumed prefix is only dealt with once it is worth it (see make_room).
    end = len(buf)
    if at + size > end or mgr._head > end >> 1 or at - mgr._head + size > mgr._limit:
        size = make_room(mgr, size)
        at = mgr._tail
    view = memoryview(buf)[at : at + size]
    got = None
    try:
        got = read_into(view)
    finally:
        view.release()
        if got:
            mgr._tail = at + got  # kept, whatever happens next
        mgr._next_read = next_read_size(got or 0, size, mgr._max_read)
    if getrefcount(buf) != UNSHARED:
        check_kept(mgr, read_into)
    return got


def check_unexported(mgr: BufferManager) -> None:
    """The buffer's reference count says it may be shared: raise if a view of it is alive
    (and not, say, because someone holds a reference to the manager's bytearray)."""
    if _exported(mgr._buf):
        raise FrameLifecycleError(_EXPORTED)


def check_kept(mgr: BufferManager, read_into: object) -> None:
    """The buffer's reference count rose across ``read_into``: raise if that is an export
    (and not, say, a reference to ``view.obj`` the source kept)."""
    if _exported(mgr._buf):
        raise FrameLifecycleError(
            f"{read_into!r} kept an export of the buffer it was given; the bytes it read "
            "are buffered: release the export, then read on"
        )


def make_room(mgr: BufferManager, size: int) -> int:
    """Make room for a read of ``size`` bytes at ``_tail``, within ``max_size``, and return
    the size to read. The slow part of a read, so that most reads need not come here: it
    compacts, and leaves spare capacity for the reads that follow."""
    buf = mgr._buf
    # Sliding writes in place, which CPython allows under a live view (a frame's slice
    # someone kept, view()): refuse before anything moves, by the exact check, since this
    # runs far less often than reads. A read into spare capacity needs no such check: a view
    # only covers received bytes, and the read's own check comes after.
    check_unexported(mgr)
    head = mgr._head
    kept = mgr._tail - head
    room = mgr._limit - kept
    if size > room:
        if room <= 0:
            raise mgr._full()
        size = room
    # Spare capacity beyond this read: another read (at least a few small ones, since a
    # compaction costs about a read) when frames are being taken; an eighth of the buffer
    # while one frame grows over many reads (what the bytearray would over-allocate anyway).
    extra = (size if size > _MIN_SLACK else _MIN_SLACK) if head else len(buf) >> 3
    wanted = kept + size + extra
    if head:
        if len(buf) <= 2 * wanted:
            # Slide the unconsumed bytes to the front: the capacity is reused as it is,
            # with no resize and no zero-filling.
            buf[:kept] = buf[head : mgr._tail]
            mgr._head = 0
            mgr._scan -= head
            mgr._tail = kept
        else:
            # Far more capacity than needed (a big frame was consumed): give it back.
            mgr._compact()
            del buf[wanted:]
    missing = kept + size - len(buf)
    if missing > 0:
        # At most the zeros at hand for the extra, so that no temporary is made.
        if missing < _ZEROS_SIZE:
            missing = min(missing + extra, _ZEROS_SIZE)
        buf += _ZEROS[:missing] if missing <= _ZEROS_SIZE else bytes(missing)
    return size
