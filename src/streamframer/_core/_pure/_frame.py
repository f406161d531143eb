"""Frame: a zero-copy handle on one framed message, removed only by ``consume()``.

A manager has at most one frame outstanding, so a Frame carries nothing but its manager and its
ticket: the span, the view and the "is this still the live frame?" question all live there
(``manager._pending is frame._ticket``, see ``_lending``). That keeps creating a frame to one
small allocation, which matters when frames are 64 bytes long. The manager never holds the
frame itself, so a frame the program drops is collected.

Lifecycle policy. CPython refuses to resize a bytearray while any memoryview of it is alive, and a
user may keep a slice of ``frame.view`` (or a numpy array built on it) past ``consume()``. So:

* ``consume()`` while such an export is alive raises :class:`FrameLifecycleError` and changes
  nothing: the frame stays outstanding, the bytes stay put, and ``consume()`` may be called again
  once the export is released. Slices therefore never see bytes change under them.
* Using a frame after ``consume()`` (reading it, consuming it again), or after ``clear()`` or
  ``discard()`` ended it, raises the same error.
* Reading the next frame while one is outstanding raises it too (see ``BufferManager``).
* A frame dropped unconsumed gives its bytes back: the next read returns them again, and a
  ``ResourceWarning`` says so (see ``_lending``).
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from ..._errors import FrameLifecycleError, _preview
from ._lending import BUSY, CONCURRENT, CONSUMED, VIEWS, give_back, views_alive

if TYPE_CHECKING:
    from ._storage import Storage

__all__ = ["Frame"]

_CONSUMED = "this frame was already consumed; its bytes are gone from the buffer"
_ENDED = (
    "this frame was ended by clear() or discard() before it was consumed; its bytes are gone "
    "from the buffer"
)
# Payloads from this size on are copied once, through a memoryview, instead of twice.
_ONE_COPY = 4096


class Frame:
    """One complete frame: a read-only, zero-copy view of its payload in the manager's buffer.

    ``bytes(frame)`` or ``frame.tobytes()`` copy the payload; ``frame.view`` is a read-only
    ``memoryview`` of it; ``len(frame)`` is its length; a frame compares equal to bytes-like
    objects with the same content. ``frame.consume()`` removes the whole frame (header, payload
    and delimiter) from the buffer; ``with frame:`` consumes it on exit.
    """

    __slots__ = ("_mgr", "_ticket")
    _mgr: Storage
    _ticket: object

    def __new__(cls, *args: object, **kwargs: object) -> Frame:
        raise TypeError("frames come from a BufferManager (next_frame, read_with_rule, ...)")

    def __del__(self) -> None:
        # Dropped unconsumed: the bytes go back to the manager (the next read returns them).
        mgr = self._mgr
        state = mgr._pending
        if state is self._ticket or state is BUSY:
            give_back(mgr, self._ticket)

    def _live(self) -> Storage:
        mgr = self._mgr
        if mgr._pending is not self._ticket:
            raise _gone(self)
        return mgr

    @property
    def consumed(self) -> bool:
        """True once this frame is no longer outstanding: ``consume()`` removed it, or
        ``clear()``/``discard()`` ended it."""
        return self._mgr._pending is not self._ticket

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
        if mgr._pending is not self._ticket:
            raise _gone(self)
        start = mgr._start
        end = mgr._end
        if end - start < _ONE_COPY:
            return bytes(mgr._buf[start:end])  # two small copies beat making a memoryview
        return memoryview(mgr._buf)[start:end].tobytes()

    __bytes__ = tobytes

    def __len__(self) -> int:
        mgr = self._mgr
        if mgr._pending is not self._ticket:  # _live() inline: len() is on many hot loops
            raise _gone(self)
        return mgr._end - mgr._start

    def consume(self) -> None:
        """Remove this frame from the buffer. Raises :class:`FrameLifecycleError` if it was
        already consumed, or if a view of it is still alive (then nothing changes)."""
        mgr = self._mgr
        if mgr._pending is not self._ticket:
            raise _gone(self)
        if mgr._view is not None and views_alive(mgr):
            # Reported here, at consume(), and not later at an unrelated read.
            raise FrameLifecycleError(
                f"cannot consume: a view of this frame is still alive ({VIEWS}); release it, "
                "then consume() again"
            )
        # The consumed bytes are reclaimed lazily, once a read needs the room.
        mgr._head = mgr._scan = mgr._consume
        mgr._pending = None
        self._ticket = CONSUMED
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
        if self._mgr._pending is self._ticket:
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
            mgr._pending = self._ticket

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        mgr = self._mgr
        if mgr._pending is not self._ticket:
            return "<Frame consumed>" if self._ticket is CONSUMED else "<Frame ended>"
        payload = bytes(mgr._buf[mgr._start : mgr._end])
        return f"<Frame {len(payload)} bytes {_preview(payload)}>"


def _gone(frame: Frame) -> FrameLifecycleError:
    """The error for a frame that is not its manager's outstanding one."""
    if frame._mgr._pending is BUSY:
        return FrameLifecycleError(CONCURRENT)
    return FrameLifecycleError(_CONSUMED if frame._ticket is CONSUMED else _ENDED)
