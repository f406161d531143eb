"""Two threads on one manager, on Pythons that may switch threads between any two bytecodes.

The pure core marks a manager busy for the length of every call that changes it, so that an
overlapping call (another thread, or a rule or a read calling back into its own manager) is
refused with :class:`FrameLifecycleError` instead of corrupting the positions. The check and the
mark are adjacent bytecodes without a call between them, which CPython 3.11 and later never
interrupt. Earlier versions may switch threads there, so on them every public method of a
manager and of its frames also holds the manager's guard, a lock taken without waiting: a
second thread is refused as exactly as the mark refuses it on 3.11.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from ..._errors import FrameLifecycleError
from ._lending import CONCURRENT
from ._storage import NEEDS_GUARD

__all__ = ["NEEDS_GUARD", "guard_methods"]


def guard_methods(  # pragma: no cover - runs before 3.11 only, and coverage runs on 3.11
    cls: type, names: list[str], manager: Callable[[Any], Any]
) -> None:
    """Make each method ``names`` of ``cls`` hold the guard of ``manager(self)`` while it runs,
    refusing a call from another thread that finds it held."""
    for name in names:
        method = getattr(cls, name)

        def guarded(self: Any, *args: Any, __method: Any = method, **kwargs: Any) -> Any:
            guard = manager(self)._guard
            if not guard.acquire(False):
                raise FrameLifecycleError(CONCURRENT)
            try:
                return __method(self, *args, **kwargs)
            finally:
                guard.release()

        setattr(cls, name, functools.wraps(method)(guarded))
