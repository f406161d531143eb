"""Hooks for the whole suite: which cores it runs on, and tests that need a program pip does not
install (tests/programs.py).

Both cores, one run. Every test runs on the compiled core and on the pure-Python one, its id
ending in ``[c]`` or ``[python]`` (the autouse fixture ``streamframer_core``, parametrised here,
which a test may ask for to know its core). Before any fixture of the test sets up, the core
the package and the tests use is switched to it (tests/cores.py). Without the compiled core
(not built, or ``STREAMFRAMER_NO_EXTENSIONS=1``) only ``[python]`` runs, and the report's header
says why; ``STREAMFRAMER_REQUIRE_EXTENSION=1`` (CI) makes a missing compiled core stop the run.

Which tests run once. A test runs on both cores when the core is part of what it checks: it
makes a manager or a frame, or runs a rule, an adapter or the CLI in this process, directly or
through a helper. That is the default, so a new test gets both cores without asking. A module
whose tests leave the core out marks itself ``pytestmark = pytest.mark.one_core`` and runs once,
on the default core (the compiled one where it is built): text and layout (docs, names,
imports, packaging), argument parsing, rules' encoders and rules called on a bytearray without
a manager, and programs started as subprocesses (the CLI, examples, benchmarks), which import
the default core themselves; a module that compares the cores itself (test_differential.py)
too. A module about one core names it: ``pytest.mark.one_core("python")``; it is skipped, with
the reason, where that core is missing.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Iterator

import pytest

import cores
from helpers import EVENT_LOOPS
from programs import FIXTURE_PROGRAMS, check_programs


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("STREAMFRAMER_REQUIRE_EXTENSION") and "c" not in cores.AVAILABLE:
        raise pytest.UsageError(
            f"STREAMFRAMER_REQUIRE_EXTENSION is set, but the compiled core is not in use: "
            f"{cores.MISSING}"
        )


def pytest_report_header(config: pytest.Config) -> str:
    missing = f" (no compiled core: {cores.MISSING})" if cores.MISSING else ""
    return f"streamframer cores: {', '.join(cores.AVAILABLE)}{missing}"


@pytest.hookimpl(trylast=True)  # after the test's own parametrize marks: the core's id ends it
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("one_core")
    if marker is None:
        metafunc.parametrize("streamframer_core", cores.AVAILABLE, indirect=True)
    elif marker.args:
        metafunc.parametrize("streamframer_core", marker.args, indirect=True)


@pytest.fixture(autouse=True)
def streamframer_core(request: pytest.FixtureRequest) -> str:
    """The core this test runs on ("c" or "python"), in use by the package and the tests."""
    return str(getattr(request, "param", cores.DEFAULT))


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        names = sorted({name for fixture in fixtures for name in FIXTURE_PROGRAMS.get(fixture, ())})
        if names:
            item.add_marker(pytest.mark.servers(*names))


@pytest.hookimpl(tryfirst=True)  # before the test's fixtures start anything, of any scope
def pytest_runtest_setup(item: pytest.Item) -> None:
    callspec = getattr(item, "callspec", None)
    core = callspec.params.get("streamframer_core", cores.DEFAULT) if callspec else cores.DEFAULT
    if core not in cores.AVAILABLE:
        pytest.skip(f"about the {core!r} core: {cores.MISSING}")
    cores.use(core)
    markers = list(item.iter_markers("servers"))
    names = tuple(name for marker in markers for name in marker.args)
    if markers and not names:
        pytest.fail(f"{item.nodeid}: name the programs: @pytest.mark.servers('memcached')")
    check_programs(names)


class _UvloopPolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        import uvloop

        class Loop(uvloop.Loop):
            def close(self) -> None:
                # uvloop's close() warns of each transport a failed test left open, then
                # closes it; raised (-W error), the warning stops it half way and close()
                # waits for that transport forever, hiding the failure behind a hang. A test
                # that leaks a transport still fails on the default loop.
                with warnings.catch_warnings():
                    warnings.simplefilter("default", ResourceWarning)
                    super().close()

        return Loop()


@pytest.fixture(params=EVENT_LOOPS)
def event_loop_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """Makes ``asyncio.run()`` use this event loop (``helpers.EVENT_LOOPS``) for the test; the
    test ids name it."""
    name: str = request.param
    if name == "uvloop":
        asyncio.set_event_loop_policy(_UvloopPolicy())
    try:
        yield name
    finally:
        asyncio.set_event_loop_policy(None)
