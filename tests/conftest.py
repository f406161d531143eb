"""Hooks for the whole suite: which core it runs on, and tests that need a program pip does not
install (tests/programs.py).

The suite runs on the core ``streamframer.IMPLEMENTATION`` names: the compiled one when it was
built, the pure-Python one under ``STREAMFRAMER_NO_EXTENSIONS=1``. With
``STREAMFRAMER_REQUIRE_EXTENSION=1`` (CI) a missing compiled core stops the run instead of
silently testing the pure one twice.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Iterator

import pytest

import streamframer
from helpers import EVENT_LOOPS
from programs import FIXTURE_PROGRAMS, check_programs


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("STREAMFRAMER_REQUIRE_EXTENSION") and streamframer.IMPLEMENTATION != "c":
        raise pytest.UsageError(
            "STREAMFRAMER_REQUIRE_EXTENSION is set, but the compiled core is not in use "
            f"(streamframer.IMPLEMENTATION == {streamframer.IMPLEMENTATION!r})"
        )


def pytest_report_header(config: pytest.Config) -> str:
    return f"streamframer core: {streamframer.IMPLEMENTATION}"


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        names = sorted({name for fixture in fixtures for name in FIXTURE_PROGRAMS.get(fixture, ())})
        if names:
            item.add_marker(pytest.mark.servers(*names))


@pytest.hookimpl(tryfirst=True)  # before the test's fixtures start anything
def pytest_runtest_setup(item: pytest.Item) -> None:
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
