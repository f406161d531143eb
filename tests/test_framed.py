"""Framed: one blocking connection in both directions, over socketpair(), TCP, TLS and a pty.

Peers are threads on loopback or the far end of a socketpair the test writes to directly; no
assertion depends on time (timeouts are only made to expire while nothing can arrive).
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import sys
import threading
import tty
from collections.abc import Iterator
from typing import Callable

import pytest
import trustme

from helpers import EncodingLine
from streamframer import (
    BufferManager,
    Framed,
    FrameLifecycleError,
    StreamClosed,
    length_prefixed,
    until_delim,
)
from streamframer._io._writes import write_all

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


LINE = EncodingLine()


@pytest.fixture
def pair() -> Iterator[tuple[Framed, socket.socket]]:
    """(framed, peer): a Framed over one end of a socketpair, the test writing the other.

    Both ends time out after 5 s, so a read the library should not have made fails the test.
    """
    ours, peer = socket.socketpair()
    ours.settimeout(5)
    peer.settimeout(5)
    with Framed(ours, LINE) as framed, peer:
        yield framed, peer


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


def nothing_waiting(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    return not readable


class AnsweringPeer:
    """A server thread on loopback (TLS with ``context``): accepts one client and answers each
    line it receives with ``answer(line)``, in pieces of ``piece`` bytes."""

    def __init__(
        self,
        answer: Callable[[bytes], bytes],
        context: ssl.SSLContext | None = None,
        piece: int = 3,
    ) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.answer = answer
        self.context = context
        self.piece = piece
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(5)
        conn, _ = self.listener.accept()
        conn.settimeout(5)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.context is not None:
            conn = self.context.wrap_socket(conn, server_side=True)
        with conn:
            pending = b""
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    reply = self.answer(line)
                    for start in range(0, len(reply), self.piece):
                        conn.sendall(reply[start : start + self.piece])

    def join(self) -> None:
        self.thread.join(5)
        self.listener.close()
        assert not self.thread.is_alive()


def shout(line: bytes) -> bytes:
    return line.upper() + b"!\n"


# ------------------------------------------------------------------------------------------
# Both directions


def test_send_encodes_with_the_rule_and_writes_every_byte(
    pair: tuple[Framed, socket.socket],
) -> None:
    framed, peer = pair
    framed.send(b"*IDN?")
    framed.send(b"VOLT 5", prefix=b":")  # keyword arguments go to the encoder
    assert recv_exactly(peer, 14) == b"*IDN?\n:VOLT 5\n"


def test_a_payload_the_rule_refuses_writes_nothing(
    pair: tuple[Framed, socket.socket],
) -> None:
    framed, peer = pair
    with pytest.raises(ValueError, match="holds the delimiter"):
        framed.send(b"two\nlines")
    assert nothing_waiting(peer)


def test_a_rule_without_an_encoder_is_a_type_error_and_writes_nothing(
    pair: tuple[Framed, socket.socket],
) -> None:
    framed, peer = pair
    framed.rule = lambda buffer, scan: LINE(buffer, scan)  # a plain function: no encode()
    with pytest.raises(TypeError, match=r"has no encode\(\).*write\(\)"):
        framed.send(b"*IDN?")
    assert nothing_waiting(peer)
    framed.write(b"raw bytes\r\n")  # the way to send anyway
    assert recv_exactly(peer, 11) == b"raw bytes\r\n"


def test_query_sends_and_returns_the_reply_copied_and_consumed(
    pair: tuple[Framed, socket.socket],
) -> None:
    framed, peer = pair
    peer.sendall(b"ACME,7,1.0\nMEAS")  # the reply, and the start of an unsolicited line
    assert framed.query(b"*IDN?") == b"ACME,7,1.0"
    assert recv_exactly(peer, 6) == b"*IDN?\n"
    assert len(framed.manager) == 4  # b"MEAS" waits, nothing outstanding
    peer.sendall(b"\n")
    with framed.read_frame() as frame:
        assert frame == b"MEAS"


def test_a_query_that_times_out_loses_nothing_the_late_reply_is_the_next_frame(
    pair: tuple[Framed, socket.socket],
) -> None:
    framed, peer = pair
    peer.sendall(b"+4.99")  # half a reply: then nothing until the timeout has expired
    with pytest.raises(TimeoutError, match="5 bytes buffered"):
        framed.query(b"MEAS:VOLT?", timeout=0.02)
    peer.sendall(b"7E+00\n")
    with framed.read_frame(timeout=5) as frame:
        assert frame == b"+4.997E+00"
    # A reply that comes only after the timeout is not lost either: read_frame() returns it.
    with pytest.raises(TimeoutError):
        framed.query(b"A?", timeout=0)
    peer.sendall(b"answer to A\n")
    with framed.read_frame(timeout=5) as frame:
        assert frame == b"answer to A"
    assert recv_exactly(peer, 14) == b"MEAS:VOLT?\nA?\n"


def test_a_query_while_a_frame_is_held_raises_and_the_reply_waits(
    pair: tuple[Framed, socket.socket],
) -> None:
    framed, peer = pair
    peer.sendall(b"first\nreply\n")
    frame = framed.read_frame()
    with pytest.raises(FrameLifecycleError):
        framed.query(b"Q?")
    assert frame == b"first"  # still valid
    frame.consume()
    with framed.read_frame() as reply:
        assert reply == b"reply"


def test_read_frame_rule_overrides_the_rule_for_one_frame(
    pair: tuple[Framed, socket.socket],
) -> None:
    framed, peer = pair
    peer.sendall(b"HDR blockdata;line\n")
    with framed.read_frame(rule=until_delim(b" ")) as header:
        assert header == b"HDR"
    with framed.read_frame(rule=until_delim(b";")) as block:
        assert block == b"blockdata"
    with framed.read_frame() as line:
        assert line == b"line"


def test_iteration_consumes_each_frame_and_ends_at_a_clean_close(
    pair: tuple[Framed, socket.socket],
) -> None:
    framed, peer = pair
    peer.sendall(b"one\ntwo\nthr")
    peer.sendall(b"ee\n")
    peer.shutdown(socket.SHUT_WR)
    assert [bytes(frame) for frame in framed] == [b"one", b"two", b"three"]
    assert len(framed.manager) == 0


def test_iteration_raises_with_the_partial_frame_when_the_peer_closes_inside_one(
    pair: tuple[Framed, socket.socket],
) -> None:
    framed, peer = pair
    peer.sendall(b"whole\nhalf a li")
    peer.shutdown(socket.SHUT_WR)
    frames = iter(framed)
    assert bytes(next(frames)) == b"whole"
    with pytest.raises(StreamClosed) as closed:
        next(frames)
    assert closed.value.partial == b"half a li"


def test_close_repr_attributes_and_bad_arguments() -> None:
    ours, peer = socket.socketpair()
    manager = BufferManager(max_size=64)
    with peer, Framed(ours, LINE, manager=manager) as framed:
        assert framed.manager is manager
        assert framed.rule is LINE
        assert framed.source is ours
        peer.sendall(b"abc")
        with pytest.raises(TimeoutError):
            framed.read_frame(timeout=0)
        text = repr(framed)
        assert text.startswith("<Framed <helpers.EncodingLine object")
        assert "socket.socket" in text
        assert text.endswith(", 3 bytes buffered>")
    assert ours.fileno() == -1  # the with block closed it
    framed.close()  # closing twice is harmless
    with pytest.raises(TypeError, match="cannot read from bytes"):
        Framed(b"not a source", LINE)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="rule must be callable"):
        Framed(ours, b"\n")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="manager must be a BufferManager"):
        Framed(ours, LINE, manager=64)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# Writing every byte


class ScriptedFile:
    """A raw file that takes at most ``most`` bytes a write, and none every third call."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.calls = 0
        self.written = bytearray()
        self.flushed_at: list[int] = []
        self.read_fd, self.write_fd = os.pipe()  # always writable: what fileno() waits on

    def write(self, data: memoryview) -> int | None:
        self.calls += 1
        if self.calls % 3 == 0:
            return None  # a non-blocking file that is full right now
        taken = bytes(data[: self.most])
        self.written += taken
        return len(taken)

    def flush(self) -> None:
        self.flushed_at.append(len(self.written))

    def fileno(self) -> int:
        return self.write_fd

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.write_fd)


def test_write_all_to_a_file_that_takes_part_of_each_write() -> None:
    sink = ScriptedFile(most=7)
    data = bytes(range(256)) * 3
    try:
        write_all(sink, data)
    finally:
        sink.close()
    assert sink.written == data
    assert sink.flushed_at == [len(data)]  # flushed once, after the last byte
    assert sink.calls > len(data) // 7  # partial writes and would-blocks were retried


def test_write_all_needs_a_way_to_write() -> None:
    with pytest.raises(TypeError, match=r"cannot write to object: a sink needs sendall\(\)"):
        write_all(object(), b"x")


# ------------------------------------------------------------------------------------------
# Over TCP, TLS and a pty


def test_query_over_tcp_with_replies_arriving_in_pieces() -> None:
    server = AnsweringPeer(shout, piece=2)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with Framed(sock, LINE) as framed:
        replies = [framed.query(b"command %d" % n, timeout=5) for n in range(20)]
    server.join()
    assert replies == [b"COMMAND %d!" % n for n in range(20)]


@pytest.fixture(scope="module")
def contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context) trusting a CA made for this test module."""
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server)
    client = ssl.create_default_context()
    authority.configure_trust(client)
    return server, client


def test_query_over_tls(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_context, client_context = contexts
    big = bytes(range(256)).replace(b"\n", b"") * 400  # 102 KB: many TLS records each way
    server = AnsweringPeer(lambda line: b"%d bytes\n" % len(line), server_context, piece=4096)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock = client_context.wrap_socket(raw, server_hostname="localhost")
    with Framed(sock, LINE) as tls:
        assert tls.query(b"short", timeout=5) == b"5 bytes"
        assert tls.query(big, timeout=5) == b"%d bytes" % len(big)
        assert tls.query(b"", timeout=5) == b"0 bytes"
    server.join()


@posix_only
def test_both_directions_over_a_pty() -> None:
    """A device emulator on the controlling end; Framed on the device end, as on a serial port."""
    controller, device_fd = os.openpty()
    tty.setraw(device_fd)
    big = b"x" * 100_000  # far more than a pty holds: written in parts, read meanwhile
    command = b"DATA " + big + b"+\n"
    received = bytearray()

    def emulator() -> None:
        while len(received) < len(command):
            received.extend(os.read(controller, 65536))
        os.write(controller, b"OK\nbye\n")

    thread = threading.Thread(target=emulator)
    with Framed(os.fdopen(device_fd, "r+b", buffering=0), LINE) as framed:
        framed.send(b"*IDN?")
        assert os.read(controller, 100) == b"*IDN?\n"
        os.write(controller, b"ACME\n")
        with framed.read_frame(timeout=5) as frame:
            assert frame == b"ACME"
        thread.start()
        assert framed.query(big + b"+", timeout=5, prefix=b"DATA ") == b"OK"
        thread.join(5)
        with framed.read_frame(timeout=5) as frame:
            assert frame == b"bye"
        os.close(controller)  # the device goes away: the stream ends, cleanly
        assert list(framed) == []
    assert received == command


def test_send_and_query_through_a_built_in_rule_and_its_encoder_options(
    pair: tuple[Framed, socket.socket],
) -> None:
    framed, peer = pair
    framed.rule = length_prefixed(2, offset=2)  # a 2-byte tag, the length, the body
    framed.send(b"body", header=b"\x00\x07")
    assert recv_exactly(peer, 8) == b"\x00\x07\x00\x04body"
    with pytest.raises(ValueError, match="needs header="):
        framed.send(b"body")
    peer.sendall(b"\x00\x08\x00\x02ok")
    assert framed.query(b"ping", header=b"\x00\x08", timeout=5) == b"ok"
    assert recv_exactly(peer, 8) == b"\x00\x08\x00\x04ping"
    assert nothing_waiting(peer)
