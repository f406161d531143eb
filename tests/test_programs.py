"""Tests that need a program pip does not install: skipped where it is missing, failed in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from programs import REQUIRE_SERVERS, check_programs, server_program, starts

pytestmark = pytest.mark.one_core


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory as the whole PATH, and no STREAMFRAMER_REQUIRE_SERVERS."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(REQUIRE_SERVERS, raising=False)
    return tmp_path


def _install(bin_dir: Path, name: str) -> Path:
    program = bin_dir / name
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    return program


def test_a_missing_program_skips_the_test_naming_it(bin_dir: Path) -> None:
    _install(bin_dir, "socat")
    with pytest.raises(pytest.skip.Exception, match=r"^'redis-server' not found on PATH \(apt"):
        check_programs(("socat", "redis-server"))


def test_a_missing_program_fails_the_test_when_servers_are_required(
    bin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REQUIRE_SERVERS, "1")
    with pytest.raises(
        pytest.fail.Exception, match=f"'memcached' not found on PATH and {REQUIRE_SERVERS}=1"
    ):
        check_programs(("memcached",))


def test_a_declared_program_that_is_there_is_found(bin_dir: Path) -> None:
    program = _install(bin_dir, "mosquitto")
    check_programs(("mosquitto",))
    assert server_program("mosquitto") == str(program)
    assert os.access(server_program("mosquitto"), os.X_OK)


def test_a_program_the_test_did_not_declare_is_refused(bin_dir: Path) -> None:
    _install(bin_dir, "memcached")
    check_programs(())  # what the hook does for a test without the marker
    with pytest.raises(pytest.fail.Exception, match=r"mark it @pytest.mark.servers\('memcached'\)"):
        server_program("memcached")


@pytest.mark.servers("sh")
def test_the_marker_declares_the_program_before_the_test_runs() -> None:
    assert Path(server_program("sh")).name == "sh"


@pytest.fixture
@starts("sh")
def shell() -> str:
    return server_program("sh")


def test_a_fixture_that_starts_a_program_marks_its_tests(
    shell: str, request: pytest.FixtureRequest
) -> None:
    marker = request.node.get_closest_marker("servers")
    assert marker is not None
    assert marker.args == ("sh",)
    assert Path(shell).name == "sh"
