"""The ``streamframer`` command, run as a subprocess against peers the tests start on loopback."""

from __future__ import annotations

import importlib
import json
import os
import pty
import re
import socket
import ssl
import subprocess
import sys
import threading
import tty
from pathlib import Path

import pytest
import trustme

from cli_peers import (
    WAIT,
    Peer,
    receive_line,
    run_cli,
    send_pieces,
    stderr_lines,
    wait_for_close,
)
from streamframer import DEFAULT_MAX_SIZE
from streamframer._cli import main
from streamframer._cli._common import parse_bytes

pytestmark = pytest.mark.one_core

STATS = re.compile(
    r"^streamframer: (\d+) frames?, (\d+) payload bytes, (\d+) bytes? in (\d+) reads?, "
    r"[\d.]+ s, \d+ frames/s$"
)


def stats(result: subprocess.CompletedProcess[bytes]) -> tuple[int, int, int]:
    """(frames, payload bytes, bytes received) from the stats line on stderr."""
    for line in stderr_lines(result):
        match = STATS.match(line)
        if match:
            frames, payload, received, _reads = map(int, match.groups())
            return frames, payload, received
    raise AssertionError(f"no stats line in {result.stderr!r}")


# --------------------------------------------------------------------------------------------
# The command itself


def test_help_lists_the_three_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in (b"demo", b"read", b"query"):
        assert command in result.stdout


def test_version_is_the_package_version() -> None:
    import streamframer

    result = run_cli("--version")
    assert (result.returncode, result.stdout.decode().strip()) == (0, streamframer.__version__)


def test_console_script_runs() -> None:
    script = Path(sys.executable).with_name("streamframer")
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, timeout=WAIT, check=False
    )
    assert result.returncode == 0
    assert result.stdout.strip() != b""


# --------------------------------------------------------------------------------------------
# read: sources


def test_read_tcp_frames_lines_split_across_pieces() -> None:
    def script(conn: socket.socket) -> None:
        # The CR LF delimiter itself is split between two pieces.
        send_pieces(conn, [b"alpha\r\nbe", b"ta\r", b"\ngam", b"ma\r\n"])

    with Peer(script) as peer:
        result = run_cli("read", peer.url, "--delim", r"\r\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"alpha\nbeta\ngamma\n"
    assert stats(result) == (3, 14, 20)


def test_read_stdin_many_frames_in_batches() -> None:
    lines = [f"line {i}".encode() for i in range(20000)]
    result = run_cli("read", "-", input=b"\n".join(lines) + b"\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == lines
    assert stats(result)[0] == 20000


def test_read_count_stops_after_n_frames_while_the_peer_stays_open() -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(b"one\ntwo\nthree\nfour\n")
        wait_for_close(conn)  # the command must leave by itself after --count frames

    with Peer(script) as peer:
        result = run_cli("read", peer.url, "--count", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"one\ntwo\n"
    assert stats(result)[0] == 2


def test_read_none_lifts_the_size_and_time_bounds() -> None:
    line = b"x" * (DEFAULT_MAX_SIZE + 1)  # over the default bound
    result = run_cli("read", "-", "--max-size", "none", "--timeout", "none", input=line + b"\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == line + b"\n"


def test_read_file(tmp_path: Path) -> None:
    path = tmp_path / "capture.bin"
    path.write_bytes(b"first\x04second\x04")
    result = run_cli("read", str(path), "--eot")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"first\nsecond\n"


def test_read_tls_with_a_trusted_ca(tmp_path: Path) -> None:
    cafile, server = _tls_setup(tmp_path)
    with Peer(lambda conn: conn.sendall(b"secure\nlines\n"), tls=server) as peer:
        result = run_cli("read", peer.tls_url, "--cafile", cafile)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"secure\nlines\n"


def test_read_tls_refuses_an_unknown_ca_unless_insecure(tmp_path: Path) -> None:
    _, server = _tls_setup(tmp_path)
    with Peer(lambda conn: conn.sendall(b"x\n"), tls=server, check=False) as peer:
        refused = run_cli("read", peer.tls_url)
    assert refused.returncode == 3
    assert f"TLS with {peer.tls_url} failed" in refused.stderr.decode()
    assert "certificate verify failed" in refused.stderr.decode()

    with Peer(lambda conn: conn.sendall(b"x\n"), tls=server) as peer:
        insecure = run_cli("read", peer.tls_url, "--insecure")
    assert (insecure.returncode, insecure.stdout) == (0, b"x\n")


def _tls_setup(tmp_path: Path) -> tuple[str, ssl.SSLContext]:
    ca = trustme.CA()
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    return str(cafile), server


def test_read_serial_device() -> None:
    master, slave = pty.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def device() -> None:
        # A device that streams a line every few milliseconds: whatever the command's
        # serial open discards, the lines after it arrive whole.
        while not stop.wait(0.005):
            os.write(master, b"reading 42\n")

    streamer = threading.Thread(target=device, daemon=True)
    streamer.start()
    try:
        result = run_cli("read", os.ttyname(slave), "--baud", "115200", "--count", "3")
    finally:
        stop.set()
        streamer.join(WAIT)
        os.close(master)
        os.close(slave)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"reading 42\n" * 3


def test_serial_needs_pyserial() -> None:
    code = (
        "import sys; sys.modules['serial'] = None\n"
        "from streamframer._cli import main\n"
        "raise SystemExit(main(['read', 'COM7', '--baud', '9600']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=WAIT, check=False
    )
    assert result.returncode == 3
    assert "needs pyserial: pip install 'pyserial>=3.5'" in result.stderr.decode()


# --------------------------------------------------------------------------------------------
# read: output


FRAMES_IN = b"one\n\xff\x00\n\n"  # a text frame, a binary one, an empty one


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("text", b"one\n\\xff\\x00\n\n"),
        ("hex", b"6f 6e 65\nff 00\n\n"),
        ("raw", b"one\xff\x00"),
    ],
)
def test_read_output_formats(fmt: str, expected: bytes) -> None:
    result = run_cli("read", "-", "--format", fmt, input=FRAMES_IN)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def test_read_json_lines_carry_text_or_base64() -> None:
    result = run_cli("read", "-", "--format", "json", input=FRAMES_IN)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records == [
        {"index": 0, "length": 3, "text": "one"},
        {"index": 1, "length": 2, "base64": "/wA="},
        {"index": 2, "length": 0, "text": ""},
    ]


def test_read_count_cuts_a_batch() -> None:
    result = run_cli("read", "-", "--count", "5", "--format", "json", input=b"x\n" * 1000)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["index"] for line in result.stdout.splitlines()] == [0, 1, 2, 3, 4]


def test_read_stats_but_no_progress_when_stderr_is_a_pipe() -> None:
    result = run_cli("read", "-", input=b"a\nb\n")
    assert b"\r" not in result.stderr
    assert stats(result) == (2, 2, 4)


def test_read_progress_line_when_stderr_is_a_terminal() -> None:
    master, slave = pty.openpty()
    tty.setraw(slave)  # no LF -> CR LF translation: every CR seen is the command's own
    try:
        result = subprocess.run(
            [sys.executable, "-m", "streamframer", "read", "-"],
            input=b"a\nb\n",
            stdout=subprocess.PIPE,
            stderr=slave,
            timeout=WAIT,
            check=False,
        )
        os.close(slave)
        terminal = _read_all(master)
    finally:
        os.close(master)
    assert result.returncode == 0
    progress, _, final = terminal.rpartition(b"\r")
    assert progress.startswith(b"\r0 frames, 0 payload bytes")  # written at the first read
    assert final.startswith(b"streamframer: 2 frames")  # after the line was cleared


def test_read_progress_line_is_cleared_before_frames_on_a_shared_terminal() -> None:
    master, slave = pty.openpty()
    tty.setraw(slave)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "streamframer", "read", "-"],
            input=b"a\nb\n",
            stdout=slave,
            stderr=slave,
            timeout=WAIT,
            check=False,
        )
        os.close(slave)
        terminal = _read_all(master)
    finally:
        os.close(master)
    assert result.returncode == 0
    progress, frames, final = terminal.partition(b"a\nb\n")
    assert progress.startswith(b"\r0 frames")
    assert progress.endswith(b" \r")  # blanked out, back at the start of the line
    assert frames == b"a\nb\n"
    assert final.rpartition(b"\r")[2].startswith(b"streamframer: 2 frames")


def _read_all(master: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every slave end is closed
            return data
        if not chunk:
            return data
        data += chunk


def test_read_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"0123456789\n" * 100_000)  # far more than a pipe holds
    with subprocess.Popen(
        [sys.executable, "-m", "streamframer", "read", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()  # like `| head -1`
        stderr = process.stderr.read()
        code = process.wait(WAIT)
    assert first == b"0123456789\n"
    assert code == 0
    assert stderr.startswith(b"streamframer: ")
    assert b"Traceback" not in stderr


# --------------------------------------------------------------------------------------------
# read: errors and exit codes


def test_read_frame_too_large_names_offset_and_limit() -> None:
    result = run_cli("read", "-", "--max-size", "16", input=b"ok\n" + b"x" * 100 + b"\n")
    assert result.returncode == 1
    assert result.stdout == b"ok\n"
    message = stderr_lines(result)[-1]
    assert message.startswith("streamframer read: error: frame at stream offset 3 is too large")
    assert "max_size=16" in message


def test_read_stream_ending_inside_a_frame() -> None:
    result = run_cli("read", "-", input=b"a\nbc")
    assert result.returncode == 1
    assert result.stdout == b"a\n"
    assert stderr_lines(result)[-1] == (
        "streamframer read: error: the stream ended inside a frame: 2 bytes from stream "
        "offset 2 without a complete frame: b'bc' (--on-eof frame takes it as the last frame)"
    )


def test_read_timeout_keeps_what_arrived_and_exits_3() -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(b"done\npartial")
        wait_for_close(conn)

    with Peer(script) as peer:
        result = run_cli("read", peer.url, "--timeout", "0.3")
    assert result.returncode == 3
    assert result.stdout == b"done\n"
    assert stderr_lines(result)[-1] == (
        "streamframer read: error: timed out: no data for 0.3 s "
        "(7 bytes buffered, no complete frame)"
    )


def test_read_stdin_timeout() -> None:
    read_end, write_end = os.pipe()  # the write end stays open: no end of stream, no data
    try:
        result = run_cli("read", "-", "--timeout", "0.2", stdin=read_end)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert result.returncode == 3
    assert "timed out: no data for 0.2 s" in result.stderr.decode()


def test_read_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli("read", f"tcp://127.0.0.1:{port}", "--timeout", "2")
    assert result.returncode == 3
    assert f"cannot connect to tcp://127.0.0.1:{port}: Connection refused" in result.stderr.decode()


def test_read_missing_file(tmp_path: Path) -> None:
    result = run_cli("read", str(tmp_path / "absent"))
    assert result.returncode == 3
    assert "cannot open" in result.stderr.decode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["read"], "the following arguments are required: SOURCE"),
        (["read", "-", "--delim", r"\q"], r"unknown escape '\\q'"),
        (["read", "-", "--delim", r"\x4"], r"bad escape '\\x4': \x takes two hex digits"),
        (["read", "-", "--delim", ""], "delim must not be empty"),
        (["read", "-", "--eot", "--fixed", "4"], "choose one framing rule, not --eot and --fixed"),
        (["read", "-", "--delim", ",", "--eot"], "--delim cannot be combined with --eot"),
        (
            ["read", "-", "--length-offset", "2"],
            "--length-offset works with --length-prefixed or --varint only",
        ),
        (["read", "-", "--length-prefixed", "9"], "length_size must be 1-8 bytes, got 9"),
        (["read", "-", "--any", ""], "each delimiter must not be empty"),
        (["read", "-", "--count", "0"], "must be at least 1, got 0"),
        (["read", "-", "--max-size", "12Q"], "not an integer: '12Q'"),
        (["read", "-", "--timeout", "-1"], "must be from 0 to 9223372036 seconds"),
        (["read", "-", "--timeout", "soon"], "got 'soon'"),
        (
            ["read", "-", "--length-prefixed", "2", "--length-offset", "-1"],
            "must not be negative, got -1",
        ),
        (["read", "-", "--format", "xml"], "invalid choice: 'xml'"),
        (["read", "udp://127.0.0.1:9"], "unknown scheme 'udp'"),
        (["read", "tcp://127.0.0.1"], "bad address 'tcp://127.0.0.1': expected tcp://host:port"),
        (["query", "tcp://127.0.0.1:9"], "the following arguments are required: COMMAND"),
        (
            ["query", "tcp://127.0.0.1:9", "*IDN?", "--baud", "9600"],
            "baud applies to serial devices, not 'tcp://127.0.0.1:9'",
        ),
    ],
)
def test_bad_arguments_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process, to keep the suite fast; the two tests below check the real process.
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    assert message in err


def test_usage_error_exit_code_of_the_process() -> None:
    result = run_cli("read", "-", "--eot", "--scpi")
    assert result.returncode == 2
    assert result.stdout == b""
    assert stderr_lines(result) == [
        "streamframer read: error: choose one framing rule, not --eot and --scpi"
    ]


def test_argparse_error_exit_code_of_the_process() -> None:
    result = run_cli("read")
    assert result.returncode == 2
    assert stderr_lines(result) == [
        "streamframer read: error: the following arguments are required: SOURCE "
        "(see 'streamframer read --help')"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\r\n", b"\r\n"),
        (r"\x04", b"\x04"),
        (r"\t|\0|\\|\a|\e", b"\t|\x00|\\|\x07|\x1b"),
        ("END", b"END"),
        ("é", "é".encode()),
    ],
)
def test_parse_bytes_escapes(text: str, expected: bytes) -> None:
    assert parse_bytes(text) == expected


# --------------------------------------------------------------------------------------------
# query (with a plain rule; the SCPI default rule is tested in test_cli_rules.py)


def test_query_sends_the_command_and_prints_the_reply() -> None:
    received: list[bytes] = []

    def script(conn: socket.socket) -> None:
        received.append(receive_line(conn))
        send_pieces(conn, [b"log: ", b"line 1\nli", b"ne 2\x04"])

    with Peer(script) as peer:
        result = run_cli("query", peer.url, "LOG?", "--eot", "--write-term", r"\r\n")
    assert result.returncode == 0, result.stderr
    assert received == [b"LOG?\r\n"]
    assert result.stdout == b"log: line 1\\nline 2\n"  # one line: the newline is escaped


@pytest.mark.parametrize(
    ("command", "hint"),
    [
        ("IN_PV_00", "; a command without '?' gets no reply: 'streamframer send' sends those"),
        ("MEAS?", ""),
    ],
)
def test_query_timeout_exit_3_with_hints_naming_write_term(command: str, hint: str) -> None:
    def script(conn: socket.socket) -> None:
        assert receive_line(conn) == command.encode() + b"\n"
        wait_for_close(conn)  # and never reply, as an instrument expecting \r would

    with Peer(script) as peer:
        result = run_cli("query", peer.url, command, "--timeout", "0.3")
    assert result.returncode == 3
    assert stderr_lines(result)[-1] == (
        "streamframer query: error: no reply within 0.3 s; it was sent ending with '\\n': an "
        "instrument that expects another line ending waits for ever (--write-term '\\r' or "
        "'\\r\\n')" + hint
    )


def test_query_peer_closing_inside_the_reply_names_the_bytes() -> None:
    def script(conn: socket.socket) -> None:
        receive_line(conn)
        conn.sendall(b"+1.0E+")  # and closes: half a reply

    with Peer(script) as peer:
        result = run_cli("query", peer.url, "MEAS?", "--delim", r"\n")
    assert result.returncode == 1, result.stderr  # a framing error
    assert stderr_lines(result)[-1] == (
        "streamframer query: error: the stream ended inside a frame: 6 bytes from stream offset "
        "0 without a complete frame: b'+1.0E+' (--on-eof frame takes it as the last frame)"
    )


def test_query_peer_closing_without_a_reply() -> None:
    with Peer(receive_line) as peer:
        result = run_cli("query", peer.url, "MEAS?", "--delim", r"\n")
    assert result.returncode == 3, result.stderr
    assert stderr_lines(result)[-1] == (
        "streamframer query: error: the peer closed the connection without a reply"
    )


def test_query_timeout_with_part_of_a_reply_names_the_bytes() -> None:
    def script(conn: socket.socket) -> None:
        receive_line(conn)
        conn.sendall(b"+1.0E+00\r")  # the reply's line ending is not the rule's
        wait_for_close(conn)

    with Peer(script) as peer:
        result = run_cli("query", peer.url, "MEAS?", "--delim", r"\r\n", "--timeout", "0.3")
    assert result.returncode == 3
    assert stderr_lines(result)[-1] == (
        "streamframer query: error: no complete reply within 0.3 s: 9 bytes arrived without "
        "the end of a frame: b'+1.0E+00\\r' (check the framing rule)"
    )


def test_query_peer_closes_without_a_reply() -> None:
    with Peer(receive_line) as peer:
        result = run_cli("query", peer.url, "*IDN?")
    assert result.returncode == 3
    assert "the peer closed the connection without a reply" in result.stderr.decode()


def test_query_over_a_serial_device() -> None:
    master, slave = pty.openpty()
    tty.setraw(slave)
    received: list[bytes] = []

    def device() -> None:
        command = b""
        while not command.endswith(b"\x04"):  # the command is framed by the rule, --eot
            command += os.read(master, 64)
        received.append(command)
        os.write(master, b"serial reply\x04")

    responder = threading.Thread(target=device, daemon=True)
    responder.start()
    try:
        result = run_cli("query", os.ttyname(slave), "STAT?", "--baud", "9600", "--eot")
        responder.join(WAIT)
    finally:
        os.close(master)
        os.close(slave)
    assert result.returncode == 0, result.stderr
    assert received == [b"STAT?\x04"]
    assert result.stdout == b"serial reply\n"


def test_importing_the_main_module_runs_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    module = importlib.import_module("streamframer.__main__")
    assert module.main is main
    assert capsys.readouterr() == ("", "")
