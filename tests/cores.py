"""Both cores in one test run: the core the package and the tests use, switched test by test.

The package picks its core once, at import, and the modules that use it (the adapters, the CLI,
the tests themselves) bind its objects then: ``from streamframer import BufferManager``. To run
a test on the pure-Python core in a process that imported the compiled one, :func:`use` rebinds
each of those names, wherever streamframer's modules or the tests' hold one (module globals,
class attributes, function defaults), from the compiled core's object to the pure core's:
``BufferManager``, ``Frame``, the adapters' compiled loops (``read_with_rule``,
``iter_frames``, ``iter_payloads``: their Python reference) and ``IMPLEMENTATION``; the pure
objects then report the public names the compiled ones did, and the subprocesses a test starts
get ``STREAMFRAMER_NO_EXTENSIONS=1``. A test then sees what a process that imported the pure
core sees. :func:`use` with ``"c"`` puts everything back.

Not rebound: an object a test computed from those names before the switch and kept (a list at
module level, a ``functools.partial``); such a test names the core's objects at call time.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

import streamframer
from streamframer._core import _pure

__all__ = ["AVAILABLE", "DEFAULT", "MISSING", "use"]

NO_EXTENSIONS = "STREAMFRAMER_NO_EXTENSIONS"
ROOT = Path(__file__).resolve().parent.parent

#: The core the package imported: the compiled one where it was built and not refused.
DEFAULT: str = streamframer.IMPLEMENTATION

_ccore: Any
if DEFAULT == "c":
    from streamframer._core import _ccore
else:
    _ccore = None

#: The cores this process can run, the default one first.
AVAILABLE: tuple[str, ...] = ("c", "python") if _ccore is not None else ("python",)

#: Why the compiled core is not among them ("" when it is).
MISSING = (
    ""
    if _ccore is not None
    else f"{NO_EXTENSIONS} is set"
    if os.environ.get(NO_EXTENSIONS)
    else "the compiled core is not built"
)


class _Slot:
    """One place holding a core's object, and what it holds on each core."""

    def __init__(self, owner: object, name: str, compiled: object, pure: object) -> None:
        self.owner, self.name, self.values = owner, name, {"c": compiled, "python": pure}

    def set(self, core: str) -> None:
        setattr(self.owner, self.name, self.values[core])


class _Switch:
    def __init__(self) -> None:
        self.active = DEFAULT
        self.slots: list[_Slot] = []
        self.scanned: set[str] = set()
        self.environ = os.environ.get(NO_EXTENSIONS)
        #: The compiled core's objects by id, each with its pure counterpart.
        self.pairs: dict[int, tuple[object, object]] = {}
        if _ccore is not None:
            self._pair(_ccore.BufferManager, _pure.BufferManager)
            self._pair(_ccore.Frame, _pure.Frame)

    def _pair(self, compiled: Any, pure: Any) -> None:
        if id(compiled) not in self.pairs:
            self.pairs[id(compiled)] = (compiled, pure)
            # The pure object reports the public name the compiled one has, as on a pure install.
            self.slots.append(_Slot(pure, "__module__", pure.__module__, compiled.__module__))

    def use(self, core: str) -> None:
        if core not in AVAILABLE:
            raise ValueError(f"the {core!r} core is not available here: {MISSING}")
        if self.active == "c":
            self._scan()  # modules imported since: only while the compiled objects are in place
        if core == self.active:
            return
        for slot in self.slots:
            slot.set(core)
        if core == "python":
            os.environ[NO_EXTENSIONS] = "1"
        elif self.environ is None:
            os.environ.pop(NO_EXTENSIONS, None)
        else:
            os.environ[NO_EXTENSIONS] = self.environ
        self.active = core

    def _scan(self) -> None:
        for name, module in list(sys.modules.items()):
            if name in self.scanned:
                continue
            self.scanned.add(name)
            if _holds_core_names(name, module):
                self._scan_namespace(module, name)

    def _scan_namespace(self, owner: object, module_name: str) -> None:
        for key, value in list(vars(owner).items()):
            self._check(owner, key, value)
            if isinstance(value, types.FunctionType) and value.__module__ == module_name:
                self._scan_defaults(value)
            elif (
                isinstance(value, type)
                and value.__module__ == module_name
                and value is not owner
                and isinstance(owner, types.ModuleType)
            ):
                self._scan_namespace(value, module_name)

    def _check(self, owner: object, key: str, value: object) -> None:
        if _ccore is not None and isinstance(value, _ccore.compiled):
            self._pair(value, value.reference)
        if key == "IMPLEMENTATION" and value == "c" and isinstance(owner, types.ModuleType):
            self.slots.append(_Slot(owner, key, "c", "python"))
        elif id(value) in self.pairs:
            self.slots.append(_Slot(owner, key, value, self.pairs[id(value)][1]))

    def _scan_defaults(self, function: types.FunctionType) -> None:
        defaults, kwdefaults = function.__defaults__ or (), function.__kwdefaults__ or {}
        if any(id(value) in self.pairs for value in defaults):
            pure = tuple(self._pure(value) for value in defaults)
            self.slots.append(_Slot(function, "__defaults__", defaults, pure))
        if any(id(value) in self.pairs for value in kwdefaults.values()):
            pure_kw = {key: self._pure(value) for key, value in kwdefaults.items()}
            self.slots.append(_Slot(function, "__kwdefaults__", dict(kwdefaults), pure_kw))

    def _pure(self, value: object) -> object:
        """The pure core's counterpart of ``value``, or ``value`` itself."""
        return self.pairs.get(id(value), (None, value))[1]


def _holds_core_names(name: str, module: object) -> bool:
    """streamframer's modules (not the cores themselves), and the repository's own modules the
    tests import (tests, examples, benchmarks), but no installed package."""
    if name == "streamframer" or name.startswith("streamframer."):
        return not name.startswith("streamframer._core._")
    file = getattr(module, "__file__", None)
    if file is None or ROOT not in Path(file).resolve().parents:
        return False
    parts = Path(file).resolve().relative_to(ROOT).parts
    return not any(part.startswith(".") or part in ("src", "site-packages") for part in parts)


_switch = _Switch()


def use(core: str) -> None:
    """Make ``core`` ("c" or "python") the one streamframer and the tests use from now on."""
    _switch.use(core)
