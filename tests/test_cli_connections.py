"""The command line's side of issue 18: the address forms, regular files left unchanged, the
no-reply hint, unknown options, and ``demo --serve`` (items 4, 6 and 7)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_peers import WAIT, Peer, receive_line, run_cli, stderr_lines
from streamframer import connect, scpi_response, until_delim, until_eot

pytestmark = pytest.mark.one_core  # the command runs in a subprocess, on the default core


def test_send_and_query_to_a_regular_file_exit_2_and_leave_it_unchanged(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    original = b"important data line 1\nimportant data line 2\n"
    notes.write_bytes(original)
    for command in (["send", str(notes), "*RST"], ["query", str(notes), "*IDN?"]):
        result = run_cli(*command)
        assert result.returncode == 2, result.stderr
        assert b"Traceback" not in result.stderr
        assert "is a regular file, opened for reading only" in stderr_lines(result)[-1]
        assert notes.read_bytes() == original
    replay = run_cli("read", str(notes))  # a capture is still read
    assert replay.stdout == b"important data line 1\nimportant data line 2\n"


@pytest.mark.parametrize("form", ["127.0.0.1:{port}", "TCPIP0::127.0.0.1::{port}::SOCKET"])
def test_the_command_opens_the_address_forms(form: str) -> None:
    def answer(conn: socket.socket) -> None:
        assert receive_line(conn) == b"*IDN?\n"
        conn.sendall(b"ACME,7\n")

    with Peer(answer) as peer:
        result = run_cli("query", form.format(port=peer.port), "*IDN?")
    assert (result.returncode, result.stdout) == (0, b"ACME,7\n")


def test_a_visa_message_protocol_address_is_a_usage_error_naming_pyvisa() -> None:
    result = run_cli("query", "TCPIP::192.0.2.10::INSTR", "*IDN?")
    assert result.returncode == 2
    assert "pyvisa serves those" in stderr_lines(result)[-1]


@pytest.mark.parametrize(
    ("term", "suggested"),
    [
        ([], "(--write-term '\\r' or '\\r\\n')"),
        (["--write-term", "\\r"], "(--write-term '\\n' or '\\r\\n')"),
    ],
)
def test_the_no_reply_hint_never_suggests_the_ending_used(term: list[str], suggested: str) -> None:
    def silent(conn: socket.socket) -> None:
        conn.recv(64)
        conn.recv(64)  # until the command gives up and closes

    with Peer(silent) as peer:
        result = run_cli("query", peer.url, "VERSION?", "--timeout", "0.05", *term)
    assert result.returncode == 3
    message = stderr_lines(result)[-1]
    assert suggested in message


def test_an_unknown_option_gets_the_subcommand_s_usage_and_a_close_match() -> None:
    result = run_cli("query", "tcp://127.0.0.1:9", "*IDN?", "--timout", "1")
    assert result.returncode == 2
    text = result.stderr.decode()
    assert text.startswith("usage: streamframer query ")
    assert stderr_lines(result)[-1] == (
        "streamframer query: error: unknown option '--timout': did you mean '--timeout'? "
        "(see 'streamframer query --help')"
    )
    result = run_cli("read", "-", "--strp", "\\r", input=b"")
    assert "did you mean '--strip'?" in stderr_lines(result)[-1]


# --------------------------------------------------------------------------------------------
# demo --serve


@pytest.fixture
def served() -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """``streamframer demo --serve 127.0.0.1:0`` in a subprocess: (port, process)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "streamframer", "demo", "--serve", "127.0.0.1:0", "--seed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as in a terminal, even where this test runs with SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        found = re.search(r"at tcp://127\.0\.0\.1:(\d+) \(Ctrl-C stops it\)", first)
        assert found, first
        yield int(found[1]), process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=WAIT)


def test_demo_serve_answers_until_ctrl_c_and_exits_0_cleanly(
    served: tuple[int, subprocess.Popen[str]],
) -> None:
    port, process = served
    address = f"tcp://127.0.0.1:{port}"
    with connect(address, scpi_response(), timeout=WAIT) as scope:
        assert scope.query(b"*IDN?") == b"Simulated Instruments,SIM-5025,27611,1.0"
        assert len(scope.query(b"CURV?")) == 2000
        scope.send(b"*RST")  # no reply: the next reply is the next query's
        assert scope.query(b"FOO?") == b'-113,"Undefined header"'
    with connect(address, until_eot(4), encoder=until_delim(b"\r"), timeout=WAIT) as scope:
        assert scope.query(b"DIAG:LOG?").startswith(b"self-test passed\n")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 0
    assert err == ""
    assert out.splitlines()[-1] == "streamframer demo: stopped"
    assert "] *IDN?" in out


def test_demo_serve_refuses_a_bad_address() -> None:
    result = run_cli("demo", "--serve", "host:port")
    assert result.returncode == 2
    assert "expected [HOST:]PORT" in stderr_lines(result)[-1]


def test_timeout_zero_reads_what_is_there_and_never_spins() -> None:
    def silent(conn: socket.socket) -> None:
        conn.recv(64)
        conn.recv(64)  # until the command gives up and closes

    with Peer(silent) as peer:
        result = run_cli("query", peer.url, "X?", "--timeout", "0")
    assert result.returncode == 3
    assert stderr_lines(result)[-1].startswith("streamframer query: error: no reply within 0.0 s")
