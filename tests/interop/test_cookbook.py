"""docs/cookbook.md stays true: its excerpts match the examples the interop tests run."""

from __future__ import annotations

import re

import pytest

from .conftest import EXAMPLES

ROOT = EXAMPLES.parent
COOKBOOK = ROOT / "docs" / "cookbook.md"
_BLOCK = re.compile(r"(?:<!-- excerpt: (?P<source>\S+) -->\n)?```python\n(?P<code>.*?)```", re.S)


def _blocks() -> list[tuple[str | None, str]]:
    return [(m["source"], m["code"]) for m in _BLOCK.finditer(COOKBOOK.read_text("utf-8"))]


def test_the_cookbook_has_excerpts() -> None:
    sources = {source for source, _ in _blocks() if source}
    assert len(sources) >= 8


@pytest.mark.parametrize(("source", "code"), _blocks())
def test_each_python_block_is_an_exact_excerpt_or_compiles(source: str | None, code: str) -> None:
    if source is None:
        compile(code, "<cookbook>", "exec")  # a snippet for a library the tests do not have
    else:
        assert code in (ROOT / source).read_text("utf-8"), f"{source} no longer holds this code"
