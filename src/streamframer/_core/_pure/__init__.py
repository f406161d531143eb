"""The pure-Python core: the readable statement of the semantics, and the fallback where the
compiled core is not built (no compiler, PyPy, ``STREAMFRAMER_NO_EXTENSIONS=1``)."""

from ._buffer import DEFAULT_MAX_SIZE, DEFAULT_READ_SIZE, BufferManager
from ._frame import Frame
from ._threads import NEEDS_GUARD, guard_methods

if NEEDS_GUARD:  # pragma: no cover - before 3.11 only, and coverage is measured on 3.11
    guard_methods(
        BufferManager,
        ["feed", "next_frame", "drain", "reserve", "commit", "_fill", "view", "shrink", "discard"],
        lambda mgr: mgr,
    )
    guard_methods(Frame, ["consume", "__exit__"], lambda frame: frame._mgr)

__all__ = ["DEFAULT_MAX_SIZE", "DEFAULT_READ_SIZE", "BufferManager", "Frame"]
