"""open_endpoint: the addresses connect() and the command line open, and their errors."""

from __future__ import annotations

import math
import os
import socket
import threading
from pathlib import Path

import pytest

from streamframer import BufferManager, ReadOnlySource, read_frame, until_delim
from streamframer._io._checks import MAX_TIMEOUT
from streamframer._io._endpoints import open_endpoint


def test_tcp_endpoint_reads_and_writes_through_the_read_functions() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with open_endpoint(f"tcp://127.0.0.1:{port}", timeout=5) as endpoint:
            conn, _ = listener.accept()
            with conn:
                endpoint.send(b"ping\n")
                assert conn.recv(16) == b"ping\n"
                conn.sendall(b"pong\n")
                frame = read_frame(endpoint, BufferManager(), until_delim(b"\n"))
                assert bytes(frame) == b"pong"
                assert endpoint.gettimeout() == 5.0


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("tcp://[::1", "bad address 'tcp://[::1': Invalid IPv6 URL"),
        ("tcp://127.0.0.1", "bad address 'tcp://127.0.0.1': expected tcp://host:port"),
        ("tcp://127.0.0.1:99999", "bad address 'tcp://127.0.0.1:99999'"),
        ("udp://127.0.0.1:9", "unknown scheme 'udp' in 'udp://127.0.0.1:9'"),
    ],
)
def test_bad_addresses_are_value_errors(address: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("[", r"\[")):
        open_endpoint(address)


@pytest.mark.parametrize("timeout", [-1, math.inf, math.nan, 1e400, MAX_TIMEOUT * 2])
def test_timeouts_the_system_cannot_take_are_value_errors(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout must be None or from 0 to"):
        open_endpoint("-", timeout=timeout)


def test_options_for_another_kind_of_endpoint_are_refused() -> None:
    with pytest.raises(ValueError, match="baud applies to serial devices"):
        open_endpoint("tcp://127.0.0.1:9", baud=9600)
    with pytest.raises(ValueError, match="cafile and insecure apply to tls://"):
        open_endpoint("tcp://127.0.0.1:9", insecure=True)
    with pytest.raises(TypeError, match="timeout must be None or a number of seconds, not str"):
        open_endpoint("-", timeout="1")  # type: ignore[arg-type]


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        open_endpoint(str(tmp_path))


def test_a_fifo_without_a_writer_times_out_in_the_read_not_the_open(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with open_endpoint(str(fifo), timeout=0.05) as endpoint:  # returns: no writer needed
        with pytest.raises(TimeoutError, match="no data from"):
            endpoint.recv_into(bytearray(8))
        writer = threading.Thread(target=fifo.write_bytes, args=(b"late\n",))
        writer.start()
        endpoint.settimeout(5)
        buffer = bytearray(8)
        received = endpoint.recv_into(buffer)
        writer.join()
        assert bytes(buffer[:received]) == b"late\n"


def test_a_path_opened_for_reading_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "capture"
    path.write_bytes(b"abc")
    for writable in (False, True):  # a regular file is opened for reading only, always
        with open_endpoint(str(path), writable=writable) as endpoint:
            buffer = bytearray(8)
            assert endpoint.readinto(buffer) == 3
            assert not endpoint.writable
            with pytest.raises(ReadOnlySource, match="opened for reading only"):
                endpoint.write(b"x")
    assert path.read_bytes() == b"abc"
