"""``send`` and ``query``: commands framed by the chosen rule's encoder, over real connections."""

from __future__ import annotations

import socket

import pytest

from cli_peers import Peer, receive_line, run_cli, stderr_lines, wait_for_close
from streamframer import BufferManager, length_prefixed, read_frame

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


def test_send_writes_lines_by_default_and_reads_nothing() -> None:
    received: list[bytes] = []

    def script(conn: socket.socket) -> None:
        received.append(wait_for_close(conn))

    with Peer(script) as peer:
        result = run_cli("send", peer.url, "*RST", "*CLS")
    assert result.returncode == 0, result.stderr
    assert received == [b"*RST\n*CLS\n"]
    assert (result.stdout, result.stderr) == (b"", b"")


@pytest.mark.parametrize(
    ("options", "wire"),
    [
        (["--length-prefixed", "2"], b"\x00\x05hello"),
        (["--length-prefixed", "4", "--byteorder", "little"], b"\x05\x00\x00\x00hello"),
        (["--eot"], b"hello\x04"),
        (["--delim", r"\r\n"], b"hello\r\n"),
        (["--strip", r"\r"], b"hello\r\n"),
        (["--any", r"\r", "--any", r"\n"], b"hello\r"),
        (["--fixed", "5"], b"hello"),
        (["--scpi"], b"hello\n"),
        (["--write-term", r"\r"], b"hello\r"),
        (["--length-prefixed", "2", "--write-term", "!"], b"hello!"),
        (["--varint", "10"], b"\x05hello"),
        (["--netstring"], b"5:hello,"),
        (
            HP_BLOCK,
            b"#A\x05\x00hello",
        ),
    ],
)
def test_send_frames_with_the_rule_to_stdout(options: list[str], wire: bytes) -> None:
    result = run_cli("send", "-", "hello", *options)
    assert result.returncode == 0, result.stderr
    assert result.stdout == wire


def test_send_escapes_header_and_after_length_frame_a_binary_request() -> None:
    # A Modbus TCP "read holding registers" request: transaction 1, protocol 0, unit 0x11.
    result = run_cli(
        "send",
        "-",
        r"\x03\x00\x6b\x00\x03",
        "--escapes",
        *("--length-prefixed", "2", "--length-offset", "4", "--payload-offset", "7"),
        *("--header", r"\x00\x01\x00\x00", "--after-length", r"\x11"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == bytes.fromhex("0001 0000 0006 11 03 006b 0003")
    rule = length_prefixed(2, offset=4, payload_offset=7)
    mgr = BufferManager()
    mgr.feed(result.stdout)
    assert bytes(read_frame(_Nothing(), mgr, rule)) == bytes.fromhex("03 006b 0003")


class _Nothing:
    def recv(self, size: int) -> bytes:
        raise AssertionError("the frame was buffered")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--fixed", "4"],
            "cannot send b'hello': fixed_size(4) cannot encode a payload of 5 bytes",
        ),
        (["--length-prefixed", "1", "--length-offset", "1"], "needs header=, the 1 bytes"),
        (["--delim", "l"], "cannot send b'hello': until_delim(b'l') cannot encode a payload"),
        (["--escapes", "--eot"], None),
    ],
)
def test_send_refuses_what_the_rule_cannot_frame_before_connecting(
    options: list[str], message: str | None
) -> None:
    command = "bad\\q" if message is None else "hello"
    result = run_cli("send", "tcp://127.0.0.1:9", command, *options)  # no listener there
    assert result.returncode == 2
    line = stderr_lines(result)[-1]
    assert line.startswith("streamframer send: error: ")
    assert (message or r"bad COMMAND 'bad\\q': unknown escape '\\q'") in line


def test_send_to_a_peer_that_is_gone_exits_3() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli("send", f"tcp://127.0.0.1:{port}", "*RST")
    assert result.returncode == 3
    assert stderr_lines(result) == [
        f"streamframer send: error: cannot connect to tcp://127.0.0.1:{port}: Connection refused"
    ]


def test_query_length_prefixed_sends_and_reads_length_prefixed_frames() -> None:
    received: list[bytes] = []

    def script(conn: socket.socket) -> None:
        received.append(conn.recv(64))
        conn.sendall(b"\x00\x04pong")

    with Peer(script) as peer:
        result = run_cli("query", peer.url, "ping", "--length-prefixed", "2")
    assert result.returncode == 0, result.stderr
    assert received == [b"\x00\x04ping"]
    assert result.stdout == b"pong\n"


def test_query_encodes_lines_with_the_scpi_terminator() -> None:
    received: list[bytes] = []

    def script(conn: socket.socket) -> None:
        line = b""
        while not line.endswith(b"\r\n"):
            line += conn.recv(64)
        received.append(line)
        conn.sendall(b"1.0\r\n")

    with Peer(script) as peer:
        result = run_cli("query", peer.url, "VER?", "--delim", r"\r\n")
    assert result.returncode == 0, result.stderr
    assert received == [b"VER?\r\n"]
    assert result.stdout == b"1.0\n"


def test_query_write_term_for_an_instrument_taking_cr_and_answering_cr_lf() -> None:
    received: list[bytes] = []

    def script(conn: socket.socket) -> None:
        received.append(conn.recv(64))
        conn.sendall(b"JULABO HIGHTECH FL HL/SL VERSION 0.1.0\r\n")

    with Peer(script) as peer:
        result = run_cli(
            "query",
            peer.url,
            "VERSION",
            "--write-term",
            r"\r",
            "--delim",
            r"\r\n",
            "--format",
            "json",
        )
    assert result.returncode == 0, result.stderr
    assert received == [b"VERSION\r"]
    assert (
        result.stdout
        == b'{"index": 0, "length": 38, "text": "JULABO HIGHTECH FL HL/SL VERSION 0.1.0"}\n'
    )


def test_query_with_eof_frame_takes_a_reply_cut_by_the_close() -> None:
    def script(conn: socket.socket) -> None:
        receive_line(conn)
        conn.sendall(b"no terminator")  # then the peer closes

    with Peer(script) as peer:
        result = run_cli("query", peer.url, "X?", "--on-eof", "frame")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"no terminator\n"


def test_query_an_mqtt_broker_connect_and_connack() -> None:
    # MQTT 3.1.1 CONNECT for client id "sf": fixed header 0x10, a varint remaining length.
    connect = b"\x00\x04MQTT\x04\x02\x00\x3c\x00\x02sf"
    received: list[bytes] = []

    def broker(conn: socket.socket) -> None:
        received.append(conn.recv(64))
        conn.sendall(b"\x20\x02\x00\x00")  # CONNACK: session present 0, return code 0

    with Peer(broker) as peer:
        result = run_cli(
            "query",
            peer.url,
            "".join(f"\\x{byte:02x}" for byte in connect),
            "--escapes",
            *("--varint", "4", "--length-offset", "1", "--header", r"\x10", "--format", "hex"),
        )
    assert result.returncode == 0, result.stderr
    assert received == [b"\x10" + bytes([len(connect)]) + connect]
    assert result.stdout == b"00 00\n"
