"""Programs that pip does not install: redis-server, memcached, socat, mosquitto.

A fixture that starts one declares it; every test using the fixture is then marked
``servers("redis-server")`` when collected::

    @pytest.fixture(scope="module")
    @starts("redis-server")
    def redis_port() -> Iterator[int]:
        argv = [server_program("redis-server"), "--port", ...]

A test that starts one itself carries the marker: ``@pytest.mark.servers("socat")``.

Before such a test sets up, ``tests/conftest.py`` looks every program it is marked with up on
``PATH``. Where one is missing, the test is skipped with the reason, so the README's
``python -m pytest -q`` passes on a fresh machine with only what pip installed. With
``STREAMFRAMER_REQUIRE_SERVERS=1`` (set by ``.ci/run``) a missing program fails the test
instead: CI never skips one. ``-m servers`` selects these tests, ``-m "not servers"`` leaves
them out.
"""

from __future__ import annotations

import os
import shutil
from typing import Callable, TypeVar

import pytest

#: The environment variable that turns a missing program into a failure.
REQUIRE_SERVERS = "STREAMFRAMER_REQUIRE_SERVERS"

#: The programs each declared fixture starts, by fixture name.
FIXTURE_PROGRAMS: dict[str, tuple[str, ...]] = {}

_Function = TypeVar("_Function", bound=Callable[..., object])

# The programs the running test is marked with (set by tests/conftest.py before each test).
_declared: frozenset[str] = frozenset()


def starts(*names: str) -> Callable[[_Function], _Function]:
    """Declare the programs a fixture starts (put it under ``@pytest.fixture``)."""

    def declare(fixture: _Function) -> _Function:
        FIXTURE_PROGRAMS[fixture.__name__] = names
        return fixture

    return declare


def check_programs(names: tuple[str, ...]) -> None:
    """Skip the running test, or fail it under ``STREAMFRAMER_REQUIRE_SERVERS=1``, unless every
    program in ``names`` is on ``PATH``. Called before every test with the programs it is marked
    with (none for most tests)."""
    global _declared
    _declared = frozenset(names)
    missing = [name for name in names if shutil.which(name) is None]
    if not missing:
        return
    # Each of them is also the name of its Debian package.
    packages = " ".join(missing)
    what = ", ".join(repr(name) for name in missing)
    if os.environ.get(REQUIRE_SERVERS) == "1":
        pytest.fail(
            f"{what} not found on PATH and {REQUIRE_SERVERS}=1 (apt-get install {packages})",
            pytrace=False,
        )
    pytest.skip(f"{what} not found on PATH (apt-get install {packages} to run this test)")


def server_program(name: str) -> str:
    """The absolute path of ``name``, which the running test is marked with."""
    if name not in _declared:
        pytest.fail(
            f"the test starts {name!r}: mark it @pytest.mark.servers({name!r}), "
            f"or its fixture @starts({name!r})"
        )
    path = shutil.which(name)
    assert path is not None, f"{name!r} left PATH after the check"
    return path
