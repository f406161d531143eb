"""The socket functions over real loopback sockets: socketpair(), TCP and TLS.

Every test checks that the library left the socket's timeout and blocking mode alone. Delays in
peers only shape how bytes arrive; no assertion depends on time.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import trustme

import streamframer._io._socket
from helpers import FakeClock
from streamframer import (
    BufferManager,
    StreamClosed,
    iter_frames,
    iter_payloads,
    read_frame,
    read_with_rule,
    until_delim,
)

LINE = until_delim(b"\n")
CRLF = until_delim(b"\r\n")


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(ours, peer): a connected socketpair, closed afterwards.

    A watchdog shuts ``ours`` down after 20 s, so that a read the library should not have made
    on a blocking socket ends the test (with an EOF) instead of hanging it.
    """
    ours, peer = socket.socketpair()
    watchdog = threading.Timer(20, lambda: ours.shutdown(socket.SHUT_RDWR))
    watchdog.daemon = True
    watchdog.start()
    try:
        yield ours, peer
    finally:
        watchdog.cancel()
        ours.close()
        peer.close()


def mode(sock: socket.socket) -> tuple[float | None, bool]:
    return sock.gettimeout(), sock.getblocking()


class Peer:
    """Runs ``target`` in a thread; joined (and its exception re-raised) by ``join()``."""

    def __init__(self, target: Callable[[], None]) -> None:
        self.error: BaseException | None = None

        def run() -> None:
            try:
                target()
            except BaseException as exc:  # reported by join()
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self) -> None:
        self.thread.join(10)
        assert not self.thread.is_alive(), "peer thread did not finish"
        if self.error is not None:
            raise self.error


# --------------------------------------------------------------------------------------------
# socketpair: timeouts, non-blocking, several frames per read


def test_timeout_mid_frame_loses_nothing(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    ours.settimeout(0.05)
    mgr = BufferManager()
    peer.sendall(b"hel")
    assert read_with_rule(ours, mgr, LINE) is None
    with pytest.raises(TimeoutError):
        read_with_rule(ours, mgr, LINE)
    assert mode(ours) == (0.05, True)
    assert bytes(mgr.view()) == b"hel"
    peer.sendall(b"lo\nnext")
    frame = read_with_rule(ours, mgr, LINE)
    assert frame == b"hello"
    frame.consume()
    assert bytes(mgr.view()) == b"next"
    assert mode(ours) == (0.05, True)


def test_non_blocking_socket_gives_none(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    ours.setblocking(False)
    mgr = BufferManager()
    assert read_with_rule(ours, mgr, LINE) is None  # nothing to read
    peer.sendall(b"ab")
    assert read_with_rule(ours, mgr, LINE) is None  # bytes, no frame
    assert read_with_rule(ours, mgr, LINE) is None  # nothing more
    peer.sendall(b"c\n")
    assert read_with_rule(ours, mgr, LINE) == b"abc"
    assert mode(ours) == (0.0, False)


class Counting:
    """A real socket behind a double that counts the reads."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.calls = 0

    def recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:
        self.calls += 1
        return self.sock.recv_into(buffer, nbytes, flags)

    def fileno(self) -> int:
        return self.sock.fileno()

    def gettimeout(self) -> float | None:
        return self.sock.gettimeout()


def test_several_frames_in_one_read(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    counting = Counting(ours)
    peer.sendall(b"one\ntwo\nthree\npart")
    mgr = BufferManager()
    got = []
    for _ in range(3):
        with read_with_rule(counting, mgr, LINE) as frame:  # type: ignore[union-attr]
            got.append(bytes(frame))
    assert got == [b"one", b"two", b"three"]
    assert counting.calls == 1
    ours.settimeout(0.01)
    with pytest.raises(TimeoutError):  # the next call reads, and would wait
        read_with_rule(counting, mgr, LINE)
    assert counting.calls == 2
    assert bytes(mgr.view()) == b"part"


@pytest.mark.parametrize("blocking", [True, False])
def test_read_frame_deadline_over_partial_reads(
    pair: tuple[socket.socket, socket.socket], blocking: bool
) -> None:
    ours, peer = pair
    ours.setblocking(blocking)
    before = mode(ours)
    mgr = BufferManager(read_size=4)  # several partial reads for ten bytes
    peer.sendall(b"0123456789")
    with pytest.raises(TimeoutError):
        read_frame(ours, mgr, LINE, timeout=0.05)
    # How much was read before the deadline depends on the machine; what was read is kept.
    assert b"0123456789".startswith(bytes(mgr.view()))
    assert mode(ours) == before
    peer.sendall(b"\n")
    assert read_frame(ours, mgr, LINE, timeout=5) == b"0123456789"
    assert mode(ours) == before


def test_read_frame_without_timeout_waits_on_a_non_blocking_socket(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, peer = pair
    ours.setblocking(False)

    def send_later() -> None:
        time.sleep(0.02)
        peer.sendall(b"late")
        time.sleep(0.02)
        peer.sendall(b"\n")

    sender = Peer(send_later)
    frame = read_frame(ours, BufferManager(), LINE)
    sender.join()
    assert frame == b"late"
    assert mode(ours) == (0.0, False)


def test_read_frame_deadline_bounds_the_whole_wait(
    pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """a peer that always has more bytes ready must not keep read_frame past its deadline."""
    ours, peer = pair
    peer.sendall(b"x" * 1000)  # always something to read, never a delimiter
    monkeypatch.setattr(streamframer._io._socket, "time", FakeClock(step=1.0))
    mgr = BufferManager(read_size=1)
    with pytest.raises(TimeoutError):
        read_frame(ours, mgr, LINE, timeout=2.5)
    assert len(mgr) <= 3, f"{len(mgr)} reads after a 2.5 s deadline on a 1 s/step clock"


def test_read_frame_with_timeout_zero_takes_what_is_there(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """timeout=0 means "do not wait", not "do not read": a complete frame already in the
    socket's receive buffer is returned (like a non-blocking recv, or select with timeout 0)."""
    ours, peer = pair
    peer.sendall(b"now\nlater")
    mgr = BufferManager()
    frame = read_frame(ours, mgr, LINE, timeout=0)
    assert frame == b"now"
    frame.consume()
    with pytest.raises(TimeoutError):
        read_frame(ours, mgr, LINE, timeout=0)
    assert len(mgr) == 5
    assert mode(ours) == (None, True)


# --------------------------------------------------------------------------------------------
# End of stream


def test_iter_frames_ends_at_a_clean_eof(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    peer.sendall(b"a\nb\n")
    peer.close()
    assert [bytes(frame) for frame in iter_frames(ours, BufferManager(), LINE)] == [b"a", b"b"]
    assert mode(ours) == (None, True)


def test_iter_frames_raises_at_an_unclean_eof(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    peer.sendall(b"a\nb")
    peer.close()
    got: list[bytes] = []
    with pytest.raises(StreamClosed) as info:
        got.extend(bytes(frame) for frame in iter_frames(ours, BufferManager(), LINE))
    assert got == [b"a"]
    assert info.value.partial == b"b"


def test_iter_payloads_over_a_socket(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    ours.setblocking(False)
    peer.sendall(b"a\nb\nc")
    peer.sendall(b"\n")
    peer.close()
    assert list(iter_payloads(ours, BufferManager(), LINE)) == [b"a", b"b", b"c"]
    assert mode(ours) == (0.0, False)


# --------------------------------------------------------------------------------------------
# TLS with a certificate made here


@pytest.fixture(scope="module")
def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


def tls_session(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext], serve: Callable[[ssl.SSLSocket], None]
) -> tuple[ssl.SSLSocket, Peer]:
    """A TLS client connected over loopback TCP to a server thread running ``serve``."""
    server_context, client_context = contexts
    listener = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        try:
            conn, _ = listener.accept()
        finally:
            listener.close()
        conn.settimeout(10)
        with server_context.wrap_socket(conn, server_side=True) as tls:
            serve(tls)

    peer = Peer(run)
    raw = socket.create_connection(listener.getsockname(), timeout=10)
    return client_context.wrap_socket(raw, server_hostname="localhost"), peer


MESSAGES = [b"*IDN?", b"", b"x" * 40_000, b"CURV " + bytes(range(256)) * 4, b"last"]


def send_fragmented(tls: Any, messages: list[bytes]) -> None:
    """Each message in several TLS records, the CRLF split between two of them."""
    for message in messages:
        framed = message + b"\r\n"
        for piece in (framed[: len(framed) // 2], framed[len(framed) // 2 : -1], framed[-1:]):
            if piece:
                tls.sendall(piece)


def test_tls_frames_several_messages(tls_contexts: Any) -> None:
    client, peer = tls_session(tls_contexts, lambda tls: send_fragmented(tls, MESSAGES))
    with client:
        got = [bytes(frame) for frame in iter_frames(client, BufferManager(), CRLF)]
        assert mode(client) == (10, True)
    peer.join()
    assert got == MESSAGES


def test_tls_non_blocking(tls_contexts: Any) -> None:
    go = threading.Event()

    def serve(tls: ssl.SSLSocket) -> None:
        assert go.wait(10)
        send_fragmented(tls, [b"hello", b"world"])

    client, peer = tls_session(tls_contexts, serve)
    with client:
        client.setblocking(False)
        mgr = BufferManager()
        assert read_with_rule(client, mgr, CRLF) is None  # would block: None, not an error
        go.set()
        got = []
        for _ in range(2):
            with read_frame(client, mgr, CRLF, timeout=10) as frame:
                got.append(bytes(frame))
        assert mode(client) == (0.0, False)
    peer.join()
    assert got == [b"hello", b"world"]
