"""A peer that resets the connection: ``ConnectionResetError`` propagates, nothing read is lost.

The peer closes with ``SO_LINGER`` 0, which sends a TCP RST instead of a FIN. The reader has
taken every byte the peer sent into its manager before the reset, so the test does not depend on
what a kernel does with bytes it still holds when a reset arrives.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Callable

import pytest

from streamframer import (
    BufferManager,
    Frame,
    iter_frames,
    read_frame,
    read_with_rule,
    until_delim,
)

LINE = until_delim(b"\n")
NEVER_YET = until_delim(b"END")  # no frame in what the peer sends: every read returns None

Read = Callable[[socket.socket, BufferManager], "Frame | None"]
READS: dict[str, Read] = {
    "read_with_rule": lambda sock, mgr: read_with_rule(sock, mgr, LINE),
    "read_frame": lambda sock, mgr: read_frame(sock, mgr, LINE, timeout=10),
    "iter_frames": lambda sock, mgr: next(iter_frames(sock, mgr, LINE)),
}


@pytest.fixture
def connection() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(ours, the peer's): the two ends of a loopback TCP connection."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        ours = socket.create_connection(listener.getsockname(), timeout=10)
        peer, _ = listener.accept()
    with ours, peer:
        yield ours, peer


def reset(sock: socket.socket) -> None:
    """Close ``sock`` with an RST: SO_LINGER on, with a linger time of 0."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_a_reset_raises_connection_reset_error_with_the_bytes_kept(
    connection: tuple[socket.socket, socket.socket], read: Read
) -> None:
    ours, peer = connection
    peer.sendall(b"one\npar")
    mgr = BufferManager()
    while len(mgr) < len(b"one\npar"):
        assert read_with_rule(ours, mgr, NEVER_YET) is None
    reset(peer)

    frame = read(ours, mgr)  # already buffered: returned without touching the socket
    assert frame == b"one"
    assert frame is not None
    frame.consume()
    with pytest.raises(ConnectionResetError):
        read(ours, mgr)
    assert bytes(mgr.view()) == b"par"
    assert (ours.gettimeout(), ours.getblocking()) == (10, True)
