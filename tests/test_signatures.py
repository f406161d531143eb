"""Both cores introspect alike: every public callable of BufferManager and Frame has a
signature (``inspect.signature``, ``help()``, IDEs, sphinx autodoc) with the same parameter
names, kinds and defaults on the compiled core as on the pure one, and the same docstring. The
pure core's docstrings are the statement; the compiled core's (``_core/_c/docs.h``) are checked
equal to them here.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from streamframer import until_delim
from streamframer._core import _pure

pytestmark = pytest.mark.one_core  # compares the two cores itself

ccore = pytest.importorskip("streamframer._core._ccore", reason="the compiled core is not built")

# Not public by their names, but part of what users and the adapters call. (``bytes(frame)``
# works on both; the compiled Frame has no ``__bytes__``: bytes() copies its buffer export, which
# costs a quarter of a method lookup and call.)
CALLED_TOO = ("_fill", "__enter__", "__exit__", "__sizeof__")


def public_names(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_") or name in CALLED_TOO}


def shape(signature: inspect.Signature) -> list[tuple[str, Any, Any]]:
    """What the cores must agree on: names, kinds and defaults (annotations are the pure
    core's alone)."""
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def instances(core: Any) -> dict[str, Any]:
    mgr = core.BufferManager()
    mgr.feed(b"frame\n")
    return {"BufferManager": mgr, "Frame": mgr.next_frame(until_delim(b"\n"))}


PURE = instances(_pure)
COMPILED = instances(ccore)
NAMES = [(cls, name) for cls in PURE for name in sorted(public_names(getattr(_pure, cls)))]


@pytest.mark.parametrize("cls", sorted(PURE))
def test_the_cores_have_the_same_public_names(cls: str) -> None:
    assert public_names(getattr(ccore, cls)) == public_names(getattr(_pure, cls))


def test_buffer_manager_has_the_same_constructor_signature() -> None:
    compiled = inspect.signature(ccore.BufferManager)
    assert shape(compiled) == shape(inspect.signature(_pure.BufferManager))
    assert next(p.name for p in compiled.parameters.values()) == "max_size"


@pytest.mark.parametrize(("cls", "name"), NAMES)
def test_the_same_signature(cls: str, name: str) -> None:
    pure = getattr(PURE[cls], name)
    compiled = getattr(COMPILED[cls], name)
    assert callable(pure) == callable(compiled)
    if callable(pure):
        assert shape(inspect.signature(compiled)) == shape(inspect.signature(pure))


@pytest.mark.parametrize(("cls", "name"), [*NAMES, *((cls, None) for cls in sorted(PURE))])
def test_the_same_docstring(cls: str, name: str | None) -> None:
    pure: Any = getattr(_pure, cls)
    compiled: Any = getattr(ccore, cls)
    if name is not None:
        pure = inspect.getattr_static(pure, name)
        compiled = inspect.getattr_static(compiled, name)
    assert inspect.getdoc(compiled) == inspect.getdoc(pure)


def test_the_compiled_loop_has_its_signature() -> None:
    assert [p.name for p in inspect.signature(ccore.compiled).parameters.values()] == [
        "kind",
        "reference",
        "io",
        "read_failed",
    ]
