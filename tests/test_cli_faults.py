"""The command on hostile input and broken surroundings: a one-line message and a documented
exit code (2 usage, 3 I/O), never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cli_peers import WAIT, Peer, receive_line, run_cli, stderr_lines

pytestmark = pytest.mark.one_core


def run_redirected(
    redirection: str, *args: str, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run the command with a shell ``redirection`` such as ``>&-`` (stdout closed)."""
    return subprocess.run(
        ["sh", "-c", f'exec "$0" -m streamframer "$@" {redirection}', sys.executable, *args],
        input=input,
        capture_output=True,
        timeout=WAIT,
        check=False,
    )


def error_line(result: subprocess.CompletedProcess[bytes]) -> str:
    """The last line on stderr, after checking that no traceback came before it."""
    assert b"Traceback" not in result.stderr, result.stderr.decode()
    return stderr_lines(result)[-1]


def test_an_unclosed_ipv6_bracket_is_a_usage_error() -> None:
    result = run_cli("read", "tcp://[::1")
    assert result.returncode == 2
    assert error_line(result) == (
        "streamframer read: error: bad address 'tcp://[::1': Invalid IPv6 URL; "
        "expected tcp://host:port"
    )


def test_a_directory_as_source(tmp_path: Path) -> None:
    result = run_cli("read", str(tmp_path))
    assert result.returncode == 3
    assert error_line(result) == (
        f"streamframer read: error: cannot open {str(tmp_path)!r}: Is a directory"
    )


@pytest.mark.parametrize("value", ["inf", "1e400", "nan", "1e10"])
@pytest.mark.parametrize(
    "command", [["read", "-"], ["read", "tcp://127.0.0.1:9"], ["query", "tcp://127.0.0.1:9", "X?"]]
)
def test_timeouts_no_system_call_takes_are_usage_errors(command: list[str], value: str) -> None:
    result = run_cli(*command, "--timeout", value, input=b"")
    assert result.returncode == 2
    assert error_line(result).endswith(
        f"argument --timeout: must be from 0 to 9223372036 seconds, "
        f"got {value!r} ('none' waits for ever) (see 'streamframer {command[0]} --help')"
    )


def test_timeout_none_waits_for_ever() -> None:
    result = run_cli("read", "-", "--timeout", "none", input=b"a\n")
    assert (result.returncode, result.stdout) == (0, b"a\n")


def test_a_command_holding_a_byte_that_is_not_utf8_is_sent_as_it_is() -> None:
    received: list[bytes] = []

    def script(conn: socket.socket) -> None:
        received.append(receive_line(conn))
        conn.sendall(b"ok\n")

    with Peer(script) as peer:
        result = run_cli("query", peer.url, os.fsdecode(b"SYST:NAME \xe9t\xe9?"))
    assert result.returncode == 0, result.stderr
    assert received == [b"SYST:NAME \xe9t\xe9?\n"]
    assert result.stdout == b"ok\n"


@pytest.mark.parametrize(
    ("target", "reason"),
    [(".", "it is a directory"), ("absent/wave.bin", "no directory {}")],
)
def test_query_binary_target_that_cannot_be_written_is_refused_before_sending(
    tmp_path: Path, target: str, reason: str
) -> None:
    path = tmp_path / target
    # Refused before any connection: the address has no listener and is never tried.
    result = run_cli("query", "tcp://127.0.0.1:9", "CURV?", "--binary", str(path))
    assert result.returncode == 3
    expected = reason.format(repr(str(path.parent)))
    assert (
        error_line(result) == f"streamframer query: error: cannot write {str(path)!r}: {expected}"
    )


def test_query_binary_write_failure_names_the_file() -> None:
    def script(conn: socket.socket) -> None:
        receive_line(conn)
        conn.sendall(b"#15hello\n")

    with Peer(script) as peer:
        result = run_cli("query", peer.url, "CURV?", "--binary", "/dev/full")
    assert result.returncode == 3
    assert error_line(result) == (
        "streamframer query: error: cannot write '/dev/full': No space left on device"
    )


@pytest.mark.parametrize("command", [["read", "-"], ["query", "tcp://127.0.0.1:9", "X?"], ["demo"]])
def test_stdout_closed(command: list[str]) -> None:
    result = run_redirected(">&-", *command, input=b"a\n")
    assert result.returncode == 3
    assert error_line(result).endswith(
        "error: standard output is closed: nowhere to print the "
        + ("demo" if command == ["demo"] else "frames")
    )


def test_stdin_closed_with_dash() -> None:
    result = run_redirected("<&-", "read", "-")
    assert result.returncode == 3
    assert error_line(result) == (
        "streamframer read: error: cannot open '-': standard input is closed"
    )


def test_stderr_closed_still_exits_0_on_a_clean_stream() -> None:
    result = run_redirected("2>&-", "read", "-", input=b"one\ntwo\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"one\ntwo\n", b"")


def test_stderr_closed_keeps_the_exit_code_of_an_error() -> None:
    result = run_redirected("2>&-", "read", "-", input=b"one\ntw")
    assert (result.returncode, result.stdout, result.stderr) == (1, b"one\n", b"")


def test_a_fifo_without_a_writer_times_out(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = run_cli("read", str(fifo), "--timeout", "0.3")
    assert result.returncode == 3
    assert error_line(result) == (
        "streamframer read: error: timed out: no data for 0.3 s "
        "(0 bytes buffered, no complete frame)"
    )


def test_a_full_output_exits_3_naming_the_output() -> None:
    with open("/dev/full", "wb") as full:
        result = subprocess.run(
            [sys.executable, "-m", "streamframer", "read", "-"],
            input=b"one\ntwo\n",
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=WAIT,
            check=False,
        )
    assert result.returncode == 3
    assert error_line(result) == (
        "streamframer read: error: cannot write the output: No space left on device"
    )
