"""Hooks for the whole suite: tests that need a program pip does not install (tests/programs.py)."""

from __future__ import annotations

import pytest

from programs import FIXTURE_PROGRAMS, check_programs


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
