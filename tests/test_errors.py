"""The error tree, the public names, and the core's independence from I/O modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import streamframer
from streamframer import (
    FrameDiscarded,
    FrameLifecycleError,
    FrameTooLarge,
    FramingError,
    StreamClosed,
    StreamFramerError,
)

pytestmark = pytest.mark.one_core

SRC = Path(streamframer.__file__).resolve().parent
CORE_MODULES = sorted(
    str(path.relative_to(SRC))
    for pattern in ("_errors.py", "_rules/*.py", "_core/**/*.py")
    for path in SRC.glob(pattern)
)


def test_one_tree_under_one_base() -> None:
    for error in (FrameTooLarge, FramingError, FrameLifecycleError, StreamClosed, FrameDiscarded):
        assert issubclass(error, StreamFramerError)
    assert issubclass(StreamClosed, EOFError)
    assert issubclass(FrameDiscarded, FrameTooLarge)
    for base in (StreamFramerError, FrameTooLarge, FramingError, FrameLifecycleError):
        assert not issubclass(base, (BufferError, OSError, ValueError, TypeError))


@pytest.mark.parametrize(
    "error",
    [StreamFramerError, FrameTooLarge, FramingError, FrameLifecycleError, StreamClosed],
)
def test_each_error_says_when_it_is_raised(error: type[Exception]) -> None:
    doc = error.__doc__ or ""
    assert "raise" in doc.lower(), f"{error.__name__} does not say when it is raised"


def test_errors_carry_the_data_a_program_acts_on() -> None:
    too_large = FrameTooLarge(100, 250)
    assert (too_large.limit, too_large.size) == (100, 250)
    assert str(too_large) == "frame of at least 250 bytes exceeds max_size=100"
    discarded = FrameDiscarded(100, 250)
    assert (discarded.limit, discarded.size) == (100, 250)
    assert "discarded" in str(discarded)
    framing = FramingError("bad header b'#9'", offset=3)
    assert framing.offset == 3
    assert FramingError("x").offset == 0
    closed = StreamClosed(b"ab")
    assert closed.partial == b"ab"
    assert str(closed) == "stream closed inside a frame: 2 bytes left, b'ab'"
    long_tail = StreamClosed(b"z" * 100)
    assert str(long_tail) == f"stream closed inside a frame: 100 bytes left, {b'z' * 32!r}..."
    assert str(StreamClosed(b"")) == "stream closed cleanly, between frames"


def test_messages_are_lowercase() -> None:
    for error in (FrameTooLarge(1, 2), FrameDiscarded(1, 2), StreamClosed(b""), StreamClosed(b"x")):
        message = str(error)
        assert message[0].islower(), message


def test_public_names() -> None:
    seed_names = {"BufferManager", "Frame", "until_delim", "until_eot", "read_with_rule"}
    brief_names = {
        "read_frame",
        "iter_frames",
        "iter_payloads",
        "NeedMore",
        "FrameSpan",
        "Rule",
        "StreamFramerError",
        "FrameTooLarge",
        "FramingError",
        "FrameLifecycleError",
        "StreamClosed",
        "Delimited",
    }
    assert seed_names | brief_names <= set(streamframer.__all__)
    for name in streamframer.__all__:
        assert hasattr(streamframer, name), name
    assert streamframer.__version__ == "0.1.0"


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_never_imports_io_modules(module: str) -> None:
    tree = ast.parse((SRC / module).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"socket", "asyncio", "select", "selectors", "ssl"}, imported
    assert "_socket" not in (SRC / module).read_text(encoding="utf-8")
