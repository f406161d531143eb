"""The core: BufferManager and Frame, compiled or pure Python, chosen once at import.

Both implementations have the same API, errors and behaviour, and pass the same tests; the pure
one (``_pure``) is the readable statement of the semantics, the compiled one (``_c``, built as
``_ccore``) the fast one. The compiled core is used when it was built, on CPython, unless the
environment variable ``STREAMFRAMER_NO_EXTENSIONS`` is set to a non-empty value.
``IMPLEMENTATION`` says which one is in use: ``"c"`` or ``"python"``.
"""

from __future__ import annotations

import functools
import os
import platform
from typing import Callable, TypeVar

from . import _pure

__all__ = [
    "DEFAULT_MAX_SIZE",
    "DEFAULT_READ_SIZE",
    "IMPLEMENTATION",
    "BufferManager",
    "Frame",
    "compiled_loop",
]

DEFAULT_MAX_SIZE = _pure.DEFAULT_MAX_SIZE
DEFAULT_READ_SIZE = _pure.DEFAULT_READ_SIZE

_Loop = TypeVar("_Loop", bound=Callable[..., object])


def _compiled_core_wanted() -> bool:
    return not os.environ.get("STREAMFRAMER_NO_EXTENSIONS") and (
        platform.python_implementation() == "CPython"
    )


try:
    if not _compiled_core_wanted():
        raise ImportError("the pure-Python core was asked for")
    from . import _ccore
except ImportError:
    from ._pure import BufferManager, Frame

    IMPLEMENTATION = "python"

    def compiled_loop(
        kind: int, io: Callable[..., object], read_failed: Callable[..., bool] | None = None
    ) -> Callable[[_Loop], _Loop]:
        """Decorates an I/O adapter's loop: in the pure core, the loop runs as written."""
        return lambda reference: reference

else:
    from ._ccore import BufferManager, Frame

    IMPLEMENTATION = "c"

    def compiled_loop(
        kind: int, io: Callable[..., object], read_failed: Callable[..., bool] | None = None
    ) -> Callable[[_Loop], _Loop]:
        """Decorates an I/O adapter's loop: the same loop with the framing in C (kind 0:
        read_with_rule, 1: iter_frames, 2: iter_payloads, 3: the asyncio reader's ``async
        for``, called as ``(reader, mgr, protocol)``). ``io`` is the adapter's function that
        reads once (0), waits and reads (1, 2), or is the coroutine of a step that waits (3:
        ``io(reader)``, the frame or StopAsyncIteration); with ``read_failed`` (kind 0), a
        source's ``recv_into`` is read in C, as ``io`` would, and a read that raised goes to
        ``read_failed(exc)``: ``False`` for "nothing to read now", or it raises. The decorated
        function stays the statement of what the loop does, and runs for a manager of the
        pure core."""

        def compile_loop(reference: _Loop) -> _Loop:
            loop = _ccore.compiled(kind, reference, io, read_failed)
            functools.update_wrapper(loop, reference)
            return loop  # type: ignore[return-value]

        return compile_loop
