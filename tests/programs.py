"""Programs that pip does not install: redis-server, memcached, socat, mosquitto.

A test that starts one says so with a marker, and asks for its path here::

    @pytest.mark.servers("redis-server")
    def test_something() -> None:
        argv = [server_program("redis-server"), "--port", ...]

Before such a test sets up (fixtures included), ``tests/conftest.py`` looks every declared
program up on ``PATH``. Where one is missing, the test is skipped with the reason, so the
README's ``python -m pytest -q`` passes on a fresh machine with what pip installed; with
``STREAMFRAMER_REQUIRE_SERVERS=1`` (set by ``.ci/run``) a missing program fails the test instead:
CI never skips one. ``-m servers`` selects these tests, ``-m "not servers"`` leaves them out.
"""

from __future__ import annotations

import os
import shutil

import pytest

#: The environment variable that turns a missing program into a failure.
REQUIRE_SERVERS = "STREAMFRAMER_REQUIRE_SERVERS"

# The programs the running test declared with its marker (set by tests/conftest.py).
_declared: frozenset[str] = frozenset()


def check_programs(names: tuple[str, ...]) -> None:
    """Skip the running test, or fail it under ``STREAMFRAMER_REQUIRE_SERVERS=1``, unless every
    program in ``names`` is on ``PATH``. Called before every test with the arguments of its
    ``servers`` markers (none for most tests)."""
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
    """The absolute path of ``name``, which the running test declared with its marker."""
    if name not in _declared:
        pytest.fail(f'the test starts {name!r}: mark it @pytest.mark.servers("{name}")')
    path = shutil.which(name)
    assert path is not None, f"{name!r} left PATH after the check"
    return path
