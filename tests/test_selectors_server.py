"""examples/selectors_server.py: one thread, many non-blocking connections, a manager each."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamframer import BufferManager, StreamClosed, read_frame, until_delim

pytestmark = pytest.mark.one_core

SERVER = Path(__file__).resolve().parent.parent / "examples" / "selectors_server.py"
LINE = until_delim(b"\n")


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """Start the example server on a free port; stop it afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-W", "error", str(SERVER), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        banner = process.stdout.readline()
        assert banner.startswith("listening on 127.0.0.1:"), banner
        yield int(banner.rsplit(":", 1)[1])
    finally:
        process.terminate()
        process.wait(5)
        process.stdout.close()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_many_clients_interleaving_fragmented_lines_each_get_their_own_replies(port: int) -> None:
    clients = [connect(port) for _ in range(20)]
    try:
        lines = {i: [b"client %d says %d" % (i, n) for n in range(30)] for i in range(20)}
        streams = {i: b"".join(line + b"\n" for line in lines[i]) for i in lines}
        longest = max(map(len, streams.values()))
        for start in range(0, longest, 5):  # 5-byte pieces, round-robin across clients
            for i, client in enumerate(clients):
                client.sendall(streams[i][start : start + 5])
        for i, client in enumerate(clients):
            mgr = BufferManager()
            replies = []
            for _ in lines[i]:
                with read_frame(client, mgr, LINE) as frame:
                    replies.append(bytes(frame))
            assert replies == [b"OK " + line.upper() for line in lines[i]]
    finally:
        for client in clients:
            client.close()


def test_a_client_leaving_mid_line_or_sending_an_oversized_line_disturbs_no_one(
    port: int,
) -> None:
    with connect(port) as steady, connect(port) as leaving, connect(port) as flooding:
        steady.sendall(b"be")
        leaving.sendall(b"half a li")
        leaving.close()
        flooding.sendall(b"z" * 5000)  # beyond the server's 4096-byte line limit
        # The server drops that connection: a close, or a reset as the server left bytes unread.
        with pytest.raises((StreamClosed, ConnectionResetError)):
            read_frame(flooding, BufferManager(), LINE)
        steady.sendall(b"fore\n")
        with read_frame(steady, BufferManager(), LINE) as frame:
            assert frame == b"OK BEFORE"
