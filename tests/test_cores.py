"""Both cores in one run (tests/cores.py, tests/conftest.py): each test runs on the core its id
names, everywhere the package and the tests look; the report's header says which cores ran."""

from __future__ import annotations

import inspect
import os
import socket
import subprocess
import sys
import types
from pathlib import Path

import pytest

import cores
import helpers
import streamframer
from streamframer import BufferManager, Frame, Framed, read_with_rule, until_delim
from streamframer._core import _pure

ROOT = Path(__file__).resolve().parent.parent
LINE = until_delim(b"\n")


def test_names_bound_at_import_are_the_cores(streamframer_core: str) -> None:
    pure = streamframer_core == "python"
    assert streamframer_core == streamframer.IMPLEMENTATION
    assert (BufferManager is _pure.BufferManager) == pure
    assert (Frame is _pure.Frame) == pure
    # The adapters' loops: the Python reference on the pure core, compiled on the other.
    assert isinstance(read_with_rule, types.FunctionType) == pure
    assert BufferManager.__module__ == Frame.__module__ == "streamframer"
    assert read_with_rule.__module__ == "streamframer"


def test_the_package_and_the_helpers_make_managers_of_the_core(streamframer_core: str) -> None:
    assert (BufferManager is _pure.BufferManager) == (streamframer_core == "python")
    left, right = socket.socketpair()
    with left, right:
        framed = Framed(left, LINE)
        assert type(framed.manager) is BufferManager
        right.sendall(b"x\n")
        frame = read_with_rule(left, BufferManager(), LINE)
        assert type(frame) is Frame
    default = inspect.signature(helpers.frames_from_chunks).parameters["mgr_factory"].default
    assert default is BufferManager


def test_a_subprocess_imports_the_core(streamframer_core: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import streamframer; print(streamframer.IMPLEMENTATION)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == streamframer_core


@pytest.mark.one_core
def test_a_test_marked_one_core_runs_on_the_default_one(streamframer_core: str) -> None:
    assert streamframer_core == streamframer.IMPLEMENTATION == cores.DEFAULT
    assert (BufferManager is _pure.BufferManager) == (cores.DEFAULT == "python")


@pytest.mark.one_core("python")
def test_a_test_marked_for_a_core_runs_on_it(streamframer_core: str) -> None:
    assert streamframer_core == streamframer.IMPLEMENTATION == "python"
    assert BufferManager is _pure.BufferManager


def collect(**environ: str) -> subprocess.CompletedProcess[str]:
    """This module collected by a pytest of its own, under ``environ``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("STREAMFRAMER_", "PYTEST_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider", __file__],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env, **environ},
    )


@pytest.mark.one_core
def test_the_header_names_the_cores_and_every_test_runs_on_each(
    request: pytest.FixtureRequest,
) -> None:
    headers = request.config.hook.pytest_report_header(config=request.config, start_path=ROOT)
    assert f"streamframer cores: {', '.join(cores.AVAILABLE)}" in headers
    module = request.node.getparent(pytest.Module)
    names = [item.name for item in module.collect()]
    for core in cores.AVAILABLE:
        assert f"test_names_bound_at_import_are_the_cores[{core}]" in names
    assert "test_a_test_marked_one_core_runs_on_the_default_one" in names


@pytest.mark.one_core
def test_without_the_compiled_core_the_pure_one_runs_and_the_header_says_why() -> None:
    done = collect(STREAMFRAMER_NO_EXTENSIONS="1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "streamframer cores: python (no compiled core: STREAMFRAMER_NO_EXTENSIONS is set)"
        in done.stdout
    )
    assert "test_names_bound_at_import_are_the_cores[python]" in done.stdout
    assert "[c]" not in done.stdout


@pytest.mark.one_core
def test_a_required_compiled_core_that_is_missing_stops_the_run() -> None:
    done = collect(STREAMFRAMER_NO_EXTENSIONS="1", STREAMFRAMER_REQUIRE_EXTENSION="1")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert "STREAMFRAMER_REQUIRE_EXTENSION is set" in done.stderr
