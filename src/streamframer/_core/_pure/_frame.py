"""Frame: a zero-copy handle on one framed message, removed only by ``consume()``.

A manager has at most one frame outstanding, so a Frame carries nothing but its manager: the
span, the view and the "is this still the live frame?" question all live there
(``manager._pending is frame``, see ``_storage``). That keeps creating a frame to one small
allocation, which matters when frames are 64 bytes long.

Lifecycle policy. CPython refuses to resize a bytearray while any memoryview of it is alive, and a
user may keep a slice of ``frame.view`` (or a numpy array built on it) past ``consume()``. So:

* ``consume()`` while such an export is alive raises :class:`FrameLifecycleError` and changes
  nothing: the frame stays outstanding, the bytes stay put, and ``consume()`` may be called again
  once the export is released. Slices therefore never see bytes change under them.
* Using a frame after ``consume()`` (reading it, consuming it again) raises the same error.
* Reading the next frame while one is outstanding raises it too (see ``BufferManager``).
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from ..._errors import FrameLifecycleError, _preview
from ._storage import BUSY, CONCURRENT

if TYPE_CHECKING:
    from ._storage import Storage

__all__ = ["Frame"]

_CONSUMED = "this frame was already consumed; its bytes are gone from the buffer"
# Payloads from this size on are copied once, through a memoryview, instead of twice.
_ONE_COPY = 4096


class Frame:
    """One complete frame: a read-only, zero-copy view of its payload in the manager's buffer.

    ``bytes(frame)`` or ``frame.tobytes()`` copy the payload; ``frame.view`` is a read-only
    ``memoryview`` of it; ``len(frame)`` is its length; a frame compares equal to bytes-like
    objects with the same content. ``frame.consume()`` removes the whole frame (header, payload
    and delimiter) from the buffer; ``with frame:`` consumes it on exit.
    """

    __slots__ = ("_mgr",)
    _mgr: Storage

    def __new__(cls, *args: object, **kwargs: object) -> Frame:
        raise TypeError("frames come from a BufferManager (next_frame, read_with_rule, ...)")

    def _live(self) -> Storage:
        mgr = self._mgr
        if mgr._pending is not self:
            raise _gone(mgr)
        return mgr

    @property
    def consumed(self) -> bool:
        """True once ``consume()`` has removed this frame."""
        return self._mgr._pending is not self

    @property
    def view(self) -> memoryview:
        """A read-only ``memoryview`` of the payload. Release it, and every slice or array made
        from it, before ``consume()``."""
        mgr = self._live()
        view = mgr._view
        if view is None:
            # The manager keeps this one and hands out read-only views of it, so that a user
            # releasing theirs cannot break the frame, nor consume() its check.
            view = mgr._view = memoryview(mgr._buf)[mgr._start : mgr._end]
        return view.toreadonly()

    def tobytes(self) -> bytes:
        """A copy of the payload."""
        mgr = self._mgr
        if mgr._pending is not self:
            raise _gone(mgr)
        start = mgr._start
        end = mgr._end
        if end - start < _ONE_COPY:
            return bytes(mgr._buf[start:end])  # two small copies beat making a memoryview
        return memoryview(mgr._buf)[start:end].tobytes()

    __bytes__ = tobytes

    def __len__(self) -> int:
        mgr = self._mgr
        if mgr._pending is not self:  # _live() inline: len() is on many hot loops
            raise _gone(mgr)
        return mgr._end - mgr._start

    def consume(self) -> None:
        """Remove this frame from the buffer. Raises :class:`FrameLifecycleError` if it was
        already consumed, or if a view of it is still alive (then nothing changes)."""
        mgr = self._mgr
        if mgr._pending is not self:
            raise _gone(mgr)
        if mgr._view is not None:
            _release_view(mgr)
        # The consumed bytes are reclaimed lazily, once a read needs the room.
        mgr._head = mgr._scan = mgr._consume
        mgr._pending = None
        if mgr._backlog is not None:
            mgr._settle_backlog()

    def __enter__(self) -> Frame:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None:
        if self._mgr._pending is self:
            self.consume()

    def __buffer__(self, flags: int) -> memoryview:
        """``memoryview(frame)`` on Python 3.12+ (PEP 688): the payload view."""
        return self.view

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Frame):
            other = other.tobytes()
        mgr = self._live()
        # other's buffer may run Python (__buffer__): under the BUSY mark, so that it cannot
        # consume this frame (or anything else) while it is compared.
        mgr._pending = BUSY
        try:
            return mgr._buf[mgr._start : mgr._end] == other
        finally:
            mgr._pending = self

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        mgr = self._mgr
        if mgr._pending is not self:
            return "<Frame consumed>"
        payload = bytes(mgr._buf[mgr._start : mgr._end])
        return f"<Frame {len(payload)} bytes {_preview(payload)}>"


def _release_view(mgr: Storage) -> None:
    """Drop the frame's view, and refuse to consume while a slice of it is still alive, so that
    the slice is reported here, at ``consume()``, and not later at an unrelated read."""
    view = mgr._view
    assert view is not None
    view.release()  # never handed out, so it has no exports of its own
    if mgr._exported():
        mgr._view = memoryview(mgr._buf)[mgr._start : mgr._end]
        raise FrameLifecycleError(
            "cannot consume: a view of this frame is still alive (frame.view, a slice of it, "
            "memoryview(frame), an array built on it, or a BufferManager.view() taken before); "
            "release it, then consume() again"
        )
    mgr._view = None


def _gone(mgr: Storage) -> FrameLifecycleError:
    """The error for a frame that is not the manager's outstanding one."""
    if mgr._pending is BUSY:
        return FrameLifecycleError(CONCURRENT)
    return FrameLifecycleError(_CONSUMED)
