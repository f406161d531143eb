"""The pure-Python core: the readable statement of the semantics, and the fallback where the
compiled core is not built (no compiler, PyPy, ``STREAMFRAMER_NO_EXTENSIONS=1``)."""

from ._buffer import DEFAULT_MAX_SIZE, DEFAULT_READ_SIZE, BufferManager
from ._frame import Frame

__all__ = ["DEFAULT_MAX_SIZE", "DEFAULT_READ_SIZE", "BufferManager", "Frame"]
