"""Connections an instrument engineer can trust (issue 18, items 2-6): a separate encoder,
reset_input_buffer(), the addresses users have in hand, regular files read-only, arguments
checked at the call, and timeouts that explain.

Peers are the far end of a socketpair, or a thread on loopback; the same tests run on each core.
"""

from __future__ import annotations

import asyncio
import math
import os
import pty
import socket
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import pytest

from cli_peers import WAIT, Peer
from helpers import EncodingLine
from streamframer import (
    BufferManager,
    Framed,
    ReadOnlySource,
    StreamClosed,
    connect,
    read_frame,
    scpi_response,
    until_delim,
)
from streamframer._io._address import Address, parse_address
from streamframer._io._checks import rule_arg
from streamframer._io._hints import hint
from streamframer.aio import open_framed_connection, start_framed_server

CRLF = until_delim(b"\r\n")
CR = until_delim(b"\r")


def read_until(conn: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = conn.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def cr_instrument(conn: socket.socket, replies: int = 2) -> None:
    """Reads commands ended by CR only, answers each with a line ended by CR LF (a Julabo)."""
    for _ in range(replies):
        command = read_until(conn, b"\r")
        assert command.endswith(b"\r"), command
        assert b"\n" not in command, command
        conn.sendall(b"re: " + command[:-1] + b"\r\n")


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, peer = socket.socketpair()
    with ours, peer:
        peer.settimeout(WAIT)
        yield ours, peer


# --------------------------------------------------------------------------------------------
# 2. encoder=


def test_an_encoder_sends_cr_while_the_rule_reads_cr_lf() -> None:
    with Peer(cr_instrument) as peer, connect(peer.url, CRLF, encoder=CR, timeout=WAIT) as framed:
        assert framed.encoder is CR
        assert framed.query(b"VERSION") == b"re: VERSION"
        assert framed.query(b"STATUS") == b"re: STATUS"


def test_framed_takes_an_encoder_and_defaults_to_the_rule(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, peer = pair
    framed = Framed(ours, CRLF)
    assert framed.encoder is None
    framed.send(b"A")
    framed.encoder = CR
    framed.send(b"B")
    framed.encoder = EncodingLine()  # any object with encode(payload, **options)
    framed.send(b"C", prefix=b">")
    assert read_until(peer, b">C\n") == b"A\r\nB\r>C\n"


@pytest.mark.parametrize(
    ("encoder", "message"),
    [
        (until_delim, r"encoder=until_delim is the function that makes a rule.*until_delim\("),
        (b"\r", "encoder must have an encode"),
        (lambda payload: payload, "encoder must have an encode"),
    ],
)
def test_an_encoder_without_encode_is_refused_before_connecting(
    encoder: object, message: str
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        url = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(TypeError, match=message):
            connect(url, CRLF, encoder=encoder)  # type: ignore[arg-type]
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected


def test_asyncio_openers_take_an_encoder() -> None:
    async def instrument(reader: Any, writer: Any) -> None:
        async for frame in reader:  # the server reads CR commands and answers CR LF
            writer.write(b"re: " + bytes(frame) + b"\r\n")

    async def main() -> list[bytes]:
        server = await start_framed_server(instrument, "127.0.0.1", 0, CR, encoder=CRLF)
        async with server:
            port = server.sockets[0].getsockname()[1]
            _, writer = await open_framed_connection("127.0.0.1", port, CRLF, encoder=CR)
            replies = [await writer.query(b"A", timeout=WAIT), await writer.query(b"B")]
            writer.close()
            await writer.wait_closed()
            with pytest.raises(TypeError, match=r"until_delim\("):
                await open_framed_connection("127.0.0.1", port, CRLF, encoder=until_delim)  # type: ignore[arg-type]
            return replies

    assert asyncio.run(main()) == [b"re: A", b"re: B"]


# --------------------------------------------------------------------------------------------
# 3. reset_input_buffer()


def test_reset_input_buffer_drops_the_buffer_and_what_is_readable_now(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, peer = pair
    framed = Framed(ours, until_delim(b"\n"))
    peer.sendall(b"partial")
    with pytest.raises(TimeoutError, match="7 bytes buffered"):
        framed.read_frame(timeout=0)
    peer.sendall(b", then more in the kernel\n" * 3)
    assert framed.reset_input_buffer() == 7 + 26 * 3
    assert len(framed.manager) == 0
    assert framed.reset_input_buffer() == 0  # nothing there: returns at once
    peer.sendall(b"fresh\n")
    with framed.read_frame(timeout=WAIT) as frame:
        assert frame == b"fresh"


def test_reset_input_buffer_on_a_capture_reads_to_its_end(tmp_path: Path) -> None:
    capture = tmp_path / "capture.bin"
    capture.write_bytes(b"one\ntwo\nthree")
    with connect(str(capture), until_delim(b"\n")) as framed:
        with framed.read_frame() as frame:
            assert frame == b"one"
        assert framed.reset_input_buffer() == len(b"two\nthree")
        with pytest.raises(StreamClosed):
            framed.read_frame()


def test_asyncio_reader_reset_input_buffer() -> None:
    async def main() -> tuple[int, bytes]:
        ours, peer = socket.socketpair()
        with peer:
            reader, writer = await open_framed_connection(None, None, until_delim(b"\n"), sock=ours)  # type: ignore[arg-type]
            peer.sendall(b"stale\nhalf a l")
            with await reader.read_frame() as frame:
                assert frame == b"stale"
            while len(reader.manager) < 8:  # the loop delivers what has arrived
                await asyncio.sleep(0.001)
            dropped = reader.reset_input_buffer()
            peer.sendall(b"fresh\n")
            with await asyncio.wait_for(reader.read_frame(), WAIT) as frame:
                fresh = bytes(frame)
            writer.close()
            await writer.wait_closed()
        return dropped, fresh

    assert asyncio.run(main()) == (8, b"fresh")


# --------------------------------------------------------------------------------------------
# 4. Addresses, and regular files read-only

SERIAL_ONE = "COM1" if os.name == "nt" else "/dev/ttyS0"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("tcp://127.0.0.1:4000", Address("tcp", "127.0.0.1", 4000)),
        ("TLS://example.org:443", Address("tls", "example.org", 443)),
        ("tcp://[::1]:5025", Address("tcp", "::1", 5025)),
        ("127.0.0.1:4000", Address("tcp", "127.0.0.1", 4000)),
        ("localhost:4000", Address("tcp", "localhost", 4000)),
        ("[::1]:5025", Address("tcp", "::1", 5025)),
        ("TCPIP::127.0.0.1::4000::SOCKET", Address("tcp", "127.0.0.1", 4000)),
        ("tcpip0::scope.lab::5025::socket", Address("tcp", "scope.lab", 5025)),
        ("ASRL/dev/ttyUSB0::INSTR", Address("serial", path="/dev/ttyUSB0", baud=9600)),
        ("ASRLCOM3::INSTR", Address("serial", path="COM3", baud=9600)),
        ("ASRL1::INSTR", Address("serial", path=SERIAL_ONE, baud=9600)),
        ("/dev/ttyUSB0", Address("path", path="/dev/ttyUSB0")),
        ("notes.txt", Address("path", path="notes.txt")),
        ("./name:123", Address("path", path="./name:123")),
        ("-", Address("stdio", path="-")),
    ],
)
def test_the_address_forms(address: str, expected: Address) -> None:
    assert parse_address(address) == expected


def test_a_baud_rate_makes_a_path_a_serial_port_and_overrides_visa_s_default() -> None:
    assert parse_address("/dev/ttyUSB0", 115200) == Address(
        "serial", path="/dev/ttyUSB0", baud=115200
    )
    assert parse_address("ASRL2::INSTR", 19200).baud == 19200


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("TCPIP::127.0.0.1::INSTR", "message protocol.*pyvisa serves those"),
        ("TCPIP0::127.0.0.1::inst0::INSTR", "pyvisa serves those"),
        ("TCPIP::127.0.0.1::hislip0::INSTR", "pyvisa serves those"),
        ("USB0::0x0957::0x1796::MY123::INSTR", "pyvisa serves those"),
        ("GPIB0::12::INSTR", "pyvisa serves those"),
        ("tcp://127.0.0.1:4000?timeout=1", "a query string is not an option"),
        ("udp://127.0.0.1:9", r"unknown scheme 'udp'.*TCPIP\[board\]::host::port::SOCKET"),
        ("127.0.0.1:99999", "port 99999 is not from 1 to 65535"),
        ("ASRL0::INSTR", "start at ASRL1"),
    ],
)
def test_addresses_that_are_not_byte_streams_are_value_errors(address: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        connect(address, CRLF)


@pytest.mark.parametrize(
    "form",
    ["127.0.0.1:{port}", "localhost:{port}", "TCPIP::127.0.0.1::{port}::SOCKET", "[::1]:{port}"],
)
def test_connect_opens_the_address_forms(form: str) -> None:
    family = socket.AF_INET6 if form.startswith("[") else socket.AF_INET
    if family == socket.AF_INET6 and not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    with socket.create_server((host, 0), family=family) as listener:
        listener.settimeout(WAIT)
        address = form.format(port=listener.getsockname()[1])
        with connect(address, until_delim(b"\n"), timeout=WAIT) as framed:
            conn, _ = listener.accept()
            with conn:
                framed.send(b"*IDN?")
                assert conn.recv(16) == b"*IDN?\n"


def test_a_visa_serial_address_opens_through_pyserial() -> None:
    pytest.importorskip("serial")
    controller, device = pty.openpty()
    try:
        with connect(f"ASRL{os.ttyname(device)}::INSTR", until_delim(b"\n"), timeout=WAIT) as port:
            assert type(port.source).__name__ == "_SerialEndpoint"
            os.write(controller, b"hello\n")
            with port.read_frame(timeout=WAIT) as frame:
                assert frame == b"hello"
    finally:
        os.close(controller)
        os.close(device)


def test_a_regular_file_opens_read_only_and_refuses_send_and_query(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"important data line 1\nline 2\n")
    with connect(str(notes), until_delim(b"\n")) as framed:
        with pytest.raises(ReadOnlySource, match="regular file"):
            framed.send(b"*RST")
        with pytest.raises(ReadOnlySource):
            framed.query(b"*IDN?", timeout=0)
        with pytest.raises(ReadOnlySource):
            framed.write(b"raw")
        with framed.read_frame() as frame:  # replaying it works
            assert frame == b"important data line 1"
    assert notes.read_bytes() == b"important data line 1\nline 2\n"


# --------------------------------------------------------------------------------------------
# 5. Arguments checked at the call, before any I/O


def test_a_rule_factory_passed_uncalled_names_the_call_to_make() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        url = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        for factory, call in (
            (until_delim, r"until_delim\(b"),
            (scpi_response, r"scpi_response\(\)"),
        ):
            with pytest.raises(
                TypeError, match=f"rule={factory.__name__} is the function .*{call}"
            ):
                connect(url, factory)  # type: ignore[arg-type]
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing was opened
    ours, other = socket.socketpair()
    with ours, other, pytest.raises(TypeError, match=r"until_delim\("):
        Framed(ours, until_delim)  # type: ignore[arg-type]


BAD_TIMEOUTS = [
    (-1, ValueError),
    (-0.001, ValueError),
    (math.nan, ValueError),
    (math.inf, ValueError),
    (1e300, ValueError),
    ("2", TypeError),
    (True, TypeError),
    (b"1", TypeError),
]


def _timeout_calls(framed: Framed, ours: socket.socket) -> list[Callable[[Any], object]]:
    return [
        lambda t: connect("tcp://127.0.0.1:9", CRLF, timeout=t),
        lambda t: framed.read_frame(timeout=t),
        lambda t: framed.query(b"X?", timeout=t),
        lambda t: read_frame(ours, BufferManager(), CRLF, t),
    ]


@pytest.mark.parametrize(("timeout", "error"), BAD_TIMEOUTS)
def test_a_bad_timeout_is_refused_at_the_call_before_any_io(
    pair: tuple[socket.socket, socket.socket], timeout: object, error: type[Exception]
) -> None:
    ours, peer = pair
    framed = Framed(ours, CRLF)
    for call in _timeout_calls(framed, ours):
        with pytest.raises(error, match="timeout must be None or"):
            call(timeout)
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(1)  # the query sent nothing


@pytest.mark.parametrize(("timeout", "error"), BAD_TIMEOUTS[::3])
def test_a_bad_timeout_is_refused_by_the_asyncio_writer(
    timeout: object, error: type[Exception]
) -> None:
    async def main() -> bytes:
        ours, peer = socket.socketpair()
        with peer:
            peer.setblocking(False)
            _, writer = await open_framed_connection(None, None, CRLF, sock=ours)  # type: ignore[arg-type]
            with pytest.raises(error, match="timeout must be None or"):
                await writer.query(b"X?", timeout=timeout)  # type: ignore[arg-type]
            await asyncio.sleep(0)
            try:
                sent = peer.recv(16)
            except BlockingIOError:
                sent = b""
            writer.close()
            await writer.wait_closed()
        return sent

    assert asyncio.run(main()) == b""


def test_timeout_zero_takes_only_what_is_there_and_a_real_number_is_a_timeout(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, peer = pair
    framed = Framed(ours, until_delim(b"\n"))
    with pytest.raises(TimeoutError, match=r"within 0\.0 s"):
        framed.read_frame(timeout=0)
    peer.sendall(b"ready\n")
    with framed.read_frame(timeout=0) as frame:
        assert frame == b"ready"
    peer.sendall(b"half")
    with pytest.raises(TimeoutError, match=r"within 0.01 s \(4 bytes buffered\)"):
        framed.read_frame(timeout=Fraction(1, 100))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# 6. Timeouts that explain, and a late reply that is not the next answer


def test_a_query_with_no_reply_says_what_ending_it_sent_and_suggests_the_others(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, _ = pair
    framed = Framed(ours, CRLF)
    with pytest.raises(TimeoutError) as raised:
        framed.query(b"VERSION", timeout=0.01)
    message = str(raised.value)
    assert message.startswith("no complete frame within 0.01 s (0 bytes buffered); ")
    assert "it was sent ending with b'\\r\\n'" in message
    assert "encoder=until_delim(b'\\n') or encoder=until_delim(b'\\r')" in message
    framed.encoder = CR
    with pytest.raises(TimeoutError) as raised:
        framed.query(b"VERSION", timeout=0.01)
    assert "ending with b'\\r'" in str(raised.value)
    assert "until_delim(b'\\r')" not in str(raised.value)  # never the ending already used


def test_the_source_s_own_timeout_says_how_long_and_what_is_buffered() -> None:
    def half_a_reply(conn: socket.socket) -> None:
        read_until(conn, b"\n")
        conn.sendall(b"+4.9")
        read_until(conn, b"\n")  # until the client is done

    with Peer(half_a_reply) as peer, connect(peer.url, until_delim(b"\n"), timeout=0.05) as framed:
        with pytest.raises(
            TimeoutError,
            match=r"after 0.0\d* s: the source's own timeout expired \(4 bytes buffered\)",
        ):
            framed.query(b"MEAS?")
        framed.send(b"bye")


def test_a_late_reply_is_not_the_answer_to_the_next_query(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, peer = pair
    framed = Framed(ours, until_delim(b"\n"))
    go, sent = threading.Event(), threading.Event()

    def slow_instrument() -> None:
        assert read_until(peer, b"\n") == b"A?\n"
        go.wait(WAIT)
        peer.sendall(b"late answer to A\n")
        sent.set()
        assert read_until(peer, b"\n") == b"B?\n"
        peer.sendall(b"answer to B\n")

    thread = threading.Thread(target=slow_instrument)
    thread.start()
    with pytest.raises(TimeoutError):
        framed.query(b"A?", timeout=0.01)
    go.set()
    sent.wait(WAIT)
    assert framed.query(b"B?", timeout=WAIT) == b"answer to B"
    thread.join(WAIT)


def test_an_empty_or_non_text_address_is_refused() -> None:
    with pytest.raises(ValueError, match="an empty address"):
        parse_address("")
    with pytest.raises(TypeError, match="address must be a str, not int"):
        parse_address(4000)  # type: ignore[arg-type]


def test_an_unhashable_callable_is_taken_for_a_rule_not_a_factory() -> None:
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, buffer: bytearray, scan: int) -> object:
            return None

    assert rule_arg(Unhashable()) is None
    with pytest.raises(TypeError, match="rule must be callable, not list"):
        rule_arg([])


def test_no_hint_when_what_was_sent_is_not_the_payload_and_an_ending() -> None:
    # A length prefix in front: not a line, so no line ending to suggest another for.
    assert hint(b"PING", b"\x00\x04PING", 0) == ""
    assert hint(b"PING", b"PING", 0) == ""  # sent with no ending at all
    assert "encoder=until_delim" in hint(b"PING", b"PING\n", 0)
