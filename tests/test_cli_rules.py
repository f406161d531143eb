"""The command with the rules beyond plain lines: the demo, --scpi, --any, --fixed,
--length-prefixed, --varint, --netstring, the delimiter options, escaped text, framing errors, and
query's default SCPI rule."""

from __future__ import annotations

import array
import json
import re
import socket
import subprocess
from pathlib import Path

import pytest

from cli_peers import Peer, receive_line, run_cli, send_pieces, stderr_lines, wait_for_close
from streamframer._cli import _demo, main

pytestmark = pytest.mark.one_core

# HP "#A" blocks: a 2-byte little-endian length after the magic.
HP_BLOCK = [
    "--length-prefixed",
    "2",
    "--length-offset",
    "2",
    "--byteorder",
    "little",
    "--magic",
    "#A",
]

# --------------------------------------------------------------------------------------------
# demo

ARRIVED = re.compile(r"^   (\d+) bytes arrived in (\d+) reads? \(([\d+]+)\); rule (.+)$")
SUMMARY = re.compile(
    r"^summary: (\d+) frames \((\d+) payload bytes\) from (\d+) bytes in (\d+) reads; "
    r"(\d+) frames spanned several reads$"
)


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess[bytes]:
    return run_cli("demo", "--seed", "7")


def test_demo_exits_0_and_prints_every_promised_frame(
    demo: subprocess.CompletedProcess[bytes],
) -> None:
    assert demo.returncode == 0, demo.stderr
    out = demo.stdout.decode()
    assert out.startswith("streamframer demo (seed 7): a simulated SCPI instrument")
    queries = re.findall(r"^>> (.+)$", out, re.MULTILINE)
    assert queries == ["*IDN?", "MEAS:VOLT?", "MEAS:VOLT?", "MEAS:VOLT?", "CURV?", "DIAG:LOG?"]
    assert re.search(r"^<< 'Simulated Instruments,SIM-5025,\d{5},1.0'$", out, re.MULTILINE)
    measurements = re.findall(r"^<< '([+-]\d\.\d{6}E[+-]\d\d)'$", out, re.MULTILINE)
    assert len(measurements) == 3
    assert all(4.9 < float(value) < 5.1 for value in measurements)
    block = re.search(
        r"^<< IEEE 488.2 block: 2000 bytes, int8 samples from (-?\d+) to (\d+): ([-\d ]+) \.\.\.\n"
        r"   (\d+) of its bytes are newlines: a line reader would have cut it into (\d+) pieces$",
        out,
        re.MULTILINE,
    )
    assert block is not None
    newlines = int(block[4])
    assert newlines > 0
    assert int(block[5]) == newlines + 1
    log = re.findall(
        r"^<< '(self-test passed|uptime \d+ s|temperature [\d.]+ C|0 errors)'$", out, re.MULTILINE
    )
    assert len(log) == 4
    assert "6 of 6 frames match what the instrument sent; 0 bytes left over" in out


def test_demo_counts_add_up(demo: subprocess.CompletedProcess[bytes]) -> None:
    lines = demo.stdout.decode().splitlines()
    per_frame = [ARRIVED.match(line) for line in lines]
    arrived = [match for match in per_frame if match]
    assert len(arrived) == 6
    total_bytes = total_reads = spanned = 0
    for match in arrived:
        size, reads, pieces = int(match[1]), int(match[2]), match[3].split("+")
        assert (len(pieces), sum(map(int, pieces))) == (reads, size)
        total_bytes += size
        total_reads += reads
        spanned += reads > 1
    assert [match[4] for match in arrived][-1] == "until_eot(0x04)"
    summary = next(SUMMARY.match(line) for line in lines if line.startswith("summary:"))
    assert summary is not None
    frames, _payload, received, reads, several = map(int, summary.groups())
    assert (frames, received, reads, several) == (6, total_bytes, total_reads, spanned)
    assert several >= 1


def test_demo_is_deterministic_with_a_seed(demo: subprocess.CompletedProcess[bytes]) -> None:
    again = run_cli("demo", "--seed", "7")
    other = run_cli("demo", "--seed", "8")
    assert again.stdout == demo.stdout
    assert other.returncode == 0
    assert other.stdout != demo.stdout


def test_demo_exits_1_when_a_frame_differs_from_what_was_sent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = _demo.Instrument.reply

    def altered(self: _demo.Instrument, command: str) -> tuple[bytes, bytes]:
        wire, payload = reply(self, command)
        return wire.replace(b"E+00", b"E+01"), payload  # the measurements arrive changed

    monkeypatch.setattr(_demo.Instrument, "reply", altered)
    assert main(["demo", "--seed", "1"]) == 1
    assert "3 of 6 frames match what the instrument sent" in capsys.readouterr().out


def test_demo_reports_an_instrument_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(self: _demo.Instrument, command: str) -> tuple[bytes, bytes]:
        raise OSError("simulated fault")

    monkeypatch.setattr(_demo.Instrument, "reply", broken)
    assert main(["demo", "--seed", "1"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("streamframer demo: error: the demo failed: ")
    assert "(the instrument: simulated fault)" in error


# --------------------------------------------------------------------------------------------
# read with the other rules

BLOCK_DATA = bytes(range(256)) * 2  # 512 bytes, 0x0a among them


def test_read_scpi_blocks_and_lines_split_across_pieces() -> None:
    stream = b"#3512" + BLOCK_DATA + b"\n" + b"+1.5E+00\n" + b"#15hello\n"
    pieces = [stream[:1], stream[1:3], stream[3:200], stream[200:520], stream[520:]]

    def script(conn: socket.socket) -> None:
        send_pieces(conn, pieces)

    with Peer(script) as peer:
        result = run_cli("read", peer.url, "--scpi", "--format", "json")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["length"] for record in records] == [512, 8, 5]
    assert records[1:] == [
        {"index": 1, "length": 8, "text": "+1.5E+00"},
        {"index": 2, "length": 5, "text": "hello"},
    ]


def test_read_framing_error_names_offset_and_bytes_after_earlier_frames() -> None:
    stream = b"#13abc\n" + b"#x12345\n"
    result = run_cli("read", "-", "--scpi", input=stream)
    assert result.returncode == 1
    assert result.stdout == b"abc\n"  # the frame before the error is out
    message = stderr_lines(result)[-1]
    match = re.match(r"streamframer read: error: framing error at stream offset (\d+): ", message)
    assert match is not None, message
    assert 7 <= int(match[1]) <= 8  # where the bad block header starts or its bad byte
    assert "b'#x12345\\n'" in message or "b'x12345\\n'" in message


@pytest.mark.parametrize(
    ("args", "stream", "expected"),
    [
        (["--any", r"\r\n", "--any", r"\n"], b"a\r\nb\nc\r\n", b"a\nb\nc\n"),
        (["--fixed", "3"], b"abcdefghi", b"abc\ndef\nghi\n"),
        (["--length-prefixed", "2"], b"\x00\x02hi\x00\x03you", b"hi\nyou\n"),
        (
            ["--length-prefixed", "2", "--byteorder", "little", "--length-offset", "1"],
            b"T\x02\x00hiT\x03\x00you",
            b"hi\nyou\n",
        ),
        (["--length-prefixed", "1", "--length-adjust", "-1"], b"\x03hi\x01", b"hi\n\n"),
        (
            ["--length-prefixed", "1", "--payload-offset", "0", "--format", "hex"],
            b"\x01A",
            b"01 41\n",
        ),
        (["--varint", "10"], b"\x02hi\x83\x01" + b"y" * 131, b"hi\n" + b"y" * 131 + b"\n"),
        (
            ["--varint", "4", "--length-offset", "1", "--format", "hex"],
            b"\x20\x02\x00\x00",
            b"00 00\n",
        ),
        (["--netstring"], b"5:hello,0:,", b"hello\n\n"),
        (
            HP_BLOCK,
            b"#A\x05\x00hello#A\x02\x00hi",
            b"hello\nhi\n",
        ),
        (["--scpi"], b"#(5)hello\n#15world\n", b"hello\nworld\n"),
    ],
)
def test_read_other_rules(args: list[str], stream: bytes, expected: bytes) -> None:
    result = run_cli("read", "-", *args, input=stream)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


@pytest.mark.parametrize(
    ("args", "stream", "message"),
    [
        (
            ["--length-prefixed", "2", "--length-offset", "2", "--magic", "#A"],
            b"#B\x00\x05hello",
            "expected the magic b'#A' at offset 0, got b'#B'",
        ),
        (["--netstring"], b"05:hello,", "framing error at stream offset 0"),
        (["--varint", "2"], b"\xff\xff\xff", "framing error at stream offset 0"),
    ],
)
def test_read_framing_errors_of_the_new_rules(args: list[str], stream: bytes, message: str) -> None:
    result = run_cli("read", "-", *args, input=stream)
    assert result.returncode == 1
    assert message in stderr_lines(result)[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--varint", "4", "--byteorder", "little"],
            "--byteorder works with --length-prefixed only",
        ),
        (["--varint", "4", "--magic", "#A"], "--magic works with --length-prefixed only"),
        (
            ["--netstring", "--length-offset", "1"],
            "--length-offset works with --length-prefixed or --varint only",
        ),
        (["--netstring", "--varint", "4"], "choose one framing rule, not --varint and --netstring"),
        (["--varint", "11"], "max_bytes must be"),
    ],
)
def test_new_rule_options_refused_where_they_mean_nothing(args: list[str], message: str) -> None:
    result = run_cli("read", "-", *args, input=b"")
    assert result.returncode == 2
    assert message in stderr_lines(result)[-1]


def test_read_length_field_beyond_max_size_is_refused_at_the_header() -> None:
    result = run_cli(
        "read", "-", "--length-prefixed", "4", "--max-size", "1K", input=b"\x00\x10\x00\x00"
    )
    assert result.returncode == 1
    assert "frame at stream offset 0 is too large" in stderr_lines(result)[-1]
    assert "max_size=1024" in stderr_lines(result)[-1]


# --------------------------------------------------------------------------------------------
# query with the SCPI response rule (the default)


def test_query_idn() -> None:
    received: list[bytes] = []

    def script(conn: socket.socket) -> None:
        received.append(receive_line(conn))
        send_pieces(conn, [b"ACME,Model", b" 7,123", b"4,1.0", b"\n"])

    with Peer(script) as peer:
        result = run_cli("query", peer.url, "*IDN?")
    assert result.returncode == 0, result.stderr
    assert received == [b"*IDN?\n"]
    assert result.stdout == b"ACME,Model 7,1234,1.0\n"


def test_query_block_saved_with_binary(tmp_path: Path) -> None:
    samples = array.array("h", range(-300, 300, 2)).tobytes()  # 600 bytes, newlines among them

    def script(conn: socket.socket) -> None:
        assert receive_line(conn) == b"CURV?\n"
        wire = b"#3600" + samples + b"\n"
        send_pieces(conn, [wire[:2], wire[2:300], wire[300:]])

    target = tmp_path / "wave.bin"
    with Peer(script) as peer:
        result = run_cli("query", peer.url, "CURV?", "--binary", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == samples
    assert result.stdout.decode().startswith("IEEE 488.2 block, 600 bytes: ")
    assert stderr_lines(result) == [f"saved 600 bytes to {target}"]


def test_query_binary_refuses_a_text_reply(tmp_path: Path) -> None:
    def script(conn: socket.socket) -> None:
        receive_line(conn)
        conn.sendall(b'-113,"Undefined header"\n')

    target = tmp_path / "wave.bin"
    with Peer(script) as peer:
        result = run_cli("query", peer.url, "CURVE?", "--binary", str(target))
    assert result.returncode == 1
    assert result.stdout == b'-113,"Undefined header"\n'  # shown, so the user sees why
    assert not target.exists()
    assert "the reply is not a binary block" in stderr_lines(result)[-1]


def test_query_malformed_block_is_a_framing_error() -> None:
    def script(conn: socket.socket) -> None:
        receive_line(conn)
        conn.sendall(b"#x123\n")
        wait_for_close(conn)

    with Peer(script) as peer:
        result = run_cli("query", peer.url, "CURV?", "--timeout", "5")
    assert result.returncode == 1
    assert "framing error at stream offset" in stderr_lines(result)[-1]


def test_query_with_a_crlf_terminator() -> None:
    def script(conn: socket.socket) -> None:
        receive_line(conn)
        conn.sendall(b"+2.5E-03\r\n")

    with Peer(script) as peer:
        result = run_cli("query", peer.url, "MEAS?", "--delim", r"\r\n", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"index": 0, "length": 8, "text": "+2.5E-03"}


# --------------------------------------------------------------------------------------------
# read: delimiter options, escaped text, the end of the stream


@pytest.mark.parametrize(
    ("args", "stream", "expected"),
    [
        (["--strip", r"\r"], b"julabo\r\nplain\nend\r\n", b"julabo\nplain\nend\n"),
        (["--delim", ";", "--strip", " "], b"a ;b;c  ;", b"a\nb\nc \n"),
        (
            ["--keep-delimiter", "--format", "json"],
            b"a\n",
            b'{"index": 0, "length": 2, "text": "a\\n"}\n',
        ),
        (
            ["--any", r"\r", "--any", r"\n", "--keep-delimiter", "--format", "hex"],
            b"a\rb\n",
            b"61 0d\n62 0a\n",
        ),
        (["--skip-empty"], b"\n\na\n\n\nb\n", b"a\nb\n"),
        (["--eot", "--skip-empty"], b"\x04a\x04\x04b\x04", b"a\nb\n"),
        (["--any", ";", "--any", ",", "--skip-empty"], b";a,,b;", b"a\nb\n"),
    ],
)
def test_read_delimiter_options(args: list[str], stream: bytes, expected: bytes) -> None:
    result = run_cli("read", "-", *args, input=stream)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strip", r"\r\n"], "strip must be exactly one byte, got b'\\r\\n'"),
        (["--eot", "--strip", r"\r"], "--strip works with lines, --delim only"),
        (["--scpi", "--strip", r"\r"], "for replies ended by \\r\\n use --delim '\\r\\n'"),
        (
            ["--fixed", "2", "--keep-delimiter"],
            "--keep-delimiter works with lines, --delim or --any only",
        ),
        (["--scpi", "--skip-empty"], "--skip-empty works with lines, --delim, --eot or --any only"),
    ],
)
def test_read_delimiter_options_refused_where_they_mean_nothing(
    args: list[str], message: str
) -> None:
    result = run_cli("read", "-", *args, input=b"")
    assert result.returncode == 2
    assert message in stderr_lines(result)[-1]


def test_text_output_is_one_line_per_frame_whatever_the_bytes() -> None:
    frames = [
        b"tab\there",
        b"esc\x1b[2Jbel\x07nul\x00",
        b"cr\rlf\nin it",
        b"del\x7f",
        "c1\x9b".encode(),
    ]
    stream = b"".join(frame + b"\x04" for frame in frames)
    result = run_cli("read", "-", "--eot", input=stream + "é ok\x04".encode() + b"\xff\x04")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines() == [
        "tab\\there",
        "esc\\x1b[2Jbel\\x07nul\\x00",
        "cr\\rlf\\nin it",
        "del\\x7f",
        "c1\\u009b",
        "é ok",
        "\\xff",
    ]


def test_raw_output_is_the_payloads_as_they_are() -> None:
    result = run_cli("read", "-", "--eot", "--format", "raw", input=b"a\x1b\nb\x04c\x00\x04")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"a\x1b\nbc\x00"


def test_read_on_eof_frame_prints_the_bytes_after_the_last_delimiter() -> None:
    result = run_cli("read", "-", "--on-eof", "frame", input=b"one\ntwo")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"one\ntwo\n"
