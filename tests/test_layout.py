"""The package's layout: imports go one way, and the core never touches I/O.

Every module is parsed with ``ast`` (nothing is imported), relative imports are resolved, and
imports under ``if TYPE_CHECKING:`` are left out of the runtime graph (annotations only). Layers,
bottom up: ``_errors``/``_args`` <- ``_rules`` <- ``_core`` <- ``_io`` <- ``aio``/``_cli`` and the
package itself; a module imports only from its own layer or below, and the graph is acyclic.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import streamframer

pytestmark = pytest.mark.one_core

ROOT = Path(streamframer.__file__).parent
PACKAGE = "streamframer"

LAYERS = {"_errors": 0, "_args": 0, "_rules": 1, "_core": 2, "_io": 3}
TOP = 4  # aio, _cli, __main__ and the package's __init__
CORE = ("_errors", "_args", "_rules", "_core")
IO_MODULES = {"socket", "asyncio", "select", "selectors", "ssl"}
IO_LAYERS = {"_io", "aio", "_cli"}


def module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def imports(name: str, runtime_only: bool) -> Iterator[str]:
    """The absolute names ``name`` imports: in-package ones resolved to the module they load."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in _walk(ast.parse(path.read_text(), str(path)), runtime_only):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in MODULES:
                    yield submodule
                elif base != name:  # not a package naming its own compiled submodule
                    yield base


def _walk(tree: ast.AST, runtime_only: bool) -> Iterator[ast.AST]:
    """Every node, leaving out the bodies of ``if TYPE_CHECKING:`` when ``runtime_only``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if runtime_only and isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def runtime_graph() -> dict[str, set[str]]:
    return {
        name: {target for target in imports(name, runtime_only=True) if target in MODULES}
        for name in MODULES
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for target in sorted(graph.get(node, ())):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        on_path.discard(path.pop())
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def layer(name: str) -> int:
    first = name.split(".")[1] if "." in name else ""
    return LAYERS.get(first, TOP)


def test_the_modules_are_found() -> None:
    assert f"{PACKAGE}._core._pure._buffer" in MODULES
    assert f"{PACKAGE}._io._socket" in MODULES
    assert len(MODULES) > 20


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "d": {"a", "c"}}) is None


def test_relative_imports_resolve_to_modules() -> None:
    targets = set(imports(f"{PACKAGE}._core._pure._buffer", runtime_only=True))
    assert f"{PACKAGE}._errors" in targets
    assert f"{PACKAGE}._core._pure._limits" in targets


def test_the_runtime_import_graph_is_acyclic() -> None:
    assert find_cycle(runtime_graph()) is None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_down_the_layers(name: str) -> None:
    upward = sorted(
        target
        for target in imports(name, runtime_only=True)
        if target in MODULES and layer(target) > layer(name)
    )
    assert not upward, f"{name} imports from a layer above it: {upward}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n) < LAYERS["_io"]))
def test_the_core_never_imports_io(name: str) -> None:
    assert name.split(".")[1] in CORE
    forbidden = sorted(
        target
        for target in imports(name, runtime_only=False)
        if target.split(".")[0] in IO_MODULES
        or (target.startswith(f"{PACKAGE}.") and target.split(".")[1] in IO_LAYERS)
    )
    assert not forbidden, f"{name} imports {forbidden}"
