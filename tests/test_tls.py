"""TLS: ssl.SSLSocket blocking and non-blocking, and asyncio over TLS, with a throwaway CA."""

from __future__ import annotations

import asyncio
import queue
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
import trustme

from streamframer import BufferManager, StreamClosed, read_frame, read_with_rule, until_delim
from streamframer.aio import FramedReader, FramedWriter, open_framed_connection, start_framed_server

LINE = until_delim(b"\n")


@pytest.fixture(scope="module")
def contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context) trusting a CA made for this test module."""
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server)
    client = ssl.create_default_context()
    authority.configure_trust(client)
    return server, client


class TLSPeer:
    """A TLS server in a thread: accepts one client, then sends what the test hands it.

    ``send(data)`` queues one ``sendall`` (one TLS record for small data); ``close()`` closes the
    connection without a TLS close_notify, as many devices do.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.context = context
        self.outbox: queue.Queue[bytes | None] = queue.Queue()
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(5)
        connection, _ = self.listener.accept()
        with self.context.wrap_socket(connection, server_side=True) as tls:
            while True:
                data = self.outbox.get(timeout=5)
                if data is None:
                    break
                tls.sendall(data)

    def send(self, data: bytes) -> None:
        self.outbox.put(data)

    def close(self) -> None:
        self.outbox.put(None)
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def tls_client(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> Iterator[tuple[ssl.SSLSocket, TLSPeer]]:
    server_context, client_context = contexts
    peer = TLSPeer(server_context)
    raw = socket.create_connection(("127.0.0.1", peer.port), timeout=5)
    sock = client_context.wrap_socket(raw, server_hostname="localhost")
    try:
        yield sock, peer
    finally:
        peer.close()
        sock.close()


def test_blocking_tls_frames_and_times_out_without_losing_bytes(
    tls_client: tuple[ssl.SSLSocket, TLSPeer],
) -> None:
    sock, peer = tls_client
    mgr = BufferManager()
    peer.send(b"*IDN?\n")
    with read_frame(sock, mgr, LINE) as frame:
        assert frame == b"*IDN?"
    peer.send(b"par")
    assert read_with_rule(sock, mgr, LINE) is None  # one read: the b"par" record
    sock.settimeout(0.02)
    with pytest.raises(TimeoutError):
        read_with_rule(sock, mgr, LINE)
    assert len(mgr) == 3
    sock.settimeout(5)
    peer.send(b"t\n")
    with read_frame(sock, mgr, LINE) as frame:
        assert frame == b"part"
    peer.send(b"tail")
    peer.close()
    with pytest.raises(StreamClosed) as caught:
        read_frame(sock, mgr, LINE)
    assert caught.value.partial == b"tail"


def test_non_blocking_tls_want_read_is_would_block(
    tls_client: tuple[ssl.SSLSocket, TLSPeer],
) -> None:
    sock, peer = tls_client
    sock.setblocking(False)
    mgr = BufferManager()
    assert read_with_rule(sock, mgr, LINE) is None  # ssl.SSLWantReadError inside
    assert not mgr.at_eof
    assert len(mgr) == 0
    peer.send(b"ready\n")
    with read_frame(sock, mgr, LINE, timeout=5) as frame:
        assert frame == b"ready"


def test_non_blocking_tls_reads_bytes_already_decrypted(
    tls_client: tuple[ssl.SSLSocket, TLSPeer],
) -> None:
    # One TLS record, read 8 bytes at a time: after the first read the rest is decrypted and
    # waiting in the TLS object while the socket itself has nothing more to read. Waiting on
    # the socket would time out; pending() says there is no need to wait.
    sock, peer = tls_client
    sock.setblocking(False)
    lines = [b"reading %d" % i for i in range(5)]
    peer.send(b"".join(line + b"\n" for line in lines))
    mgr = BufferManager(read_size=8)
    got = []
    for _ in lines:
        with read_frame(sock, mgr, LINE, timeout=1) as frame:
            got.append(bytes(frame))
    assert got == lines


@pytest.mark.usefixtures("event_loop_name")
def test_asyncio_over_tls_client_and_server(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = contexts
    block = bytes(range(256)).replace(b"\n", b"") * 1000  # 255 KB: many TLS records

    async def sizes(reader: FramedReader, writer: FramedWriter) -> None:
        async for frame in reader:
            writer.write(b"%d\n" % len(frame))
            await writer.drain()

    async def main() -> list[bytes]:
        server = await start_framed_server(sizes, "127.0.0.1", 0, LINE, ssl=server_context)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await open_framed_connection(
                "127.0.0.1", port, LINE, ssl=client_context, server_hostname="localhost"
            )
            for piece in (b"ab", b"c\n", block[:1000], block[1000:] + b"\n", b"\n"):
                writer.write(piece)
                await writer.drain()
            replies = []
            for _ in range(3):
                with await reader.read_frame() as frame:
                    replies.append(bytes(frame))
            writer.close()
            await writer.wait_closed()
        return replies

    async def bounded() -> list[bytes]:
        return await asyncio.wait_for(main(), 10)

    assert asyncio.run(bounded()) == [b"3", b"%d" % len(block), b"0"]
