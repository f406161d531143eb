"""The adapter examples run as documented and print what they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.one_core

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def test_asyncio_instrument() -> None:
    assert run_example("asyncio_instrument.py") == [
        "ACME,Model 7,0001,1.0",
        "+1.234500E+00",
        '-113,"Undefined header"',
    ]


def test_asyncio_own_stream() -> None:
    assert run_example("asyncio_own_stream.py") == ["temp=21.5", "humidity=40", "pressure=1013"]


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_serial_and_pty() -> None:
    assert run_example("serial_and_pty.py") == [
        "pty: $GPGGA,123456.00,4807.038,N*47",
        "pty: $GPVTG,054.7,T*25",
        "asyncio pty: ACME,Model 7",
        "serial: timed out; still buffered: b'MEAS:'",
        "serial: *IDN?",
        "serial: MEAS:VOLT?",
    ]


def test_tls_lines() -> None:
    assert run_example("tls_lines.py") == ["hello, blocking client", "hello, asyncio client"]
