"""streamframer.connect(): the command line's addresses, opened as a Framed connection: TCP, TLS,
a pseudo-terminal by path, and a serial device (pyserial) with a baud rate."""

from __future__ import annotations

import os
import socket
import ssl
import sys
import threading
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from streamframer import Framed, connect, ieee_block, scpi_response, until_delim

LINE = until_delim(b"\n")
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


class Instrument:
    """A server thread on loopback (TLS with ``context``) that accepts one client and answers
    each line: ``*IDN?`` with its identity, ``CURV?`` with an IEEE block, others with ``ERR``."""

    BLOCK = bytes(range(256)) * 8  # newlines among the data

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.context = context
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(5)
        try:
            conn, _ = self.listener.accept()
        except socket.timeout:
            return
        conn.settimeout(5)
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            with conn, Framed(conn, LINE) as framed:
                for frame in framed:
                    if frame == b"*IDN?":
                        framed.send(b"ACME,7,0001,1.0")
                    elif frame == b"CURV?":
                        framed.write(ieee_block().encode(self.BLOCK))
                    else:
                        framed.send(b"ERR")
        except (ssl.SSLError, ConnectionError):
            return  # a client that refused the certificate

    def join(self) -> None:
        self.thread.join(5)
        self.listener.close()
        assert not self.thread.is_alive()


@pytest.fixture
def instrument() -> Iterator[Instrument]:
    server = Instrument()
    yield server
    server.join()


def test_tcp(instrument: Instrument) -> None:
    with connect(f"tcp://127.0.0.1:{instrument.port}", scpi_response(), timeout=5) as scope:
        assert scope.query(b"*IDN?") == b"ACME,7,0001,1.0"
        assert scope.query(b"CURV?", timeout=5) == Instrument.BLOCK
        assert scope.query(b"NOPE") == b"ERR"
        assert repr(scope).startswith(
            f"<Framed scpi_response() on <_SocketEndpoint 'tcp://127.0.0.1:{instrument.port}'>"
        )
        assert scope.source.gettimeout() == 5.0  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_instrument(authority: trustme.CA) -> Iterator[Instrument]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    server = Instrument(context)
    yield server
    server.join()


def test_tls_with_a_ca_file(
    tls_instrument: Instrument, authority: trustme.CA, tmp_path: Path
) -> None:
    cafile = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(cafile))
    address = f"tls://127.0.0.1:{tls_instrument.port}"
    with connect(address, scpi_response(), timeout=5, cafile=str(cafile)) as scope:
        assert scope.query(b"CURV?") == Instrument.BLOCK
        assert scope.query(b"*IDN?") == b"ACME,7,0001,1.0"


def test_tls_refuses_a_certificate_it_cannot_verify(tls_instrument: Instrument) -> None:
    address = f"tls://127.0.0.1:{tls_instrument.port}"
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(address, LINE, timeout=5)  # the test CA is not among the system's


def test_tls_insecure_skips_verification(tls_instrument: Instrument) -> None:
    address = f"tls://127.0.0.1:{tls_instrument.port}"
    with connect(address, scpi_response(), timeout=5, insecure=True) as scope:
        assert scope.query(b"*IDN?") == b"ACME,7,0001,1.0"


def open_pty() -> tuple[int, int]:
    controller, device = os.openpty()
    tty.setraw(device)  # raw: no echo, no line editing, bytes pass unchanged
    return controller, device


@posix_only
def test_a_pty_by_its_path_both_directions() -> None:
    controller, device = open_pty()
    with connect(os.ttyname(device), LINE, timeout=5) as port:
        os.close(device)  # the path opened a descriptor of its own
        port.send(b"*IDN?")
        assert os.read(controller, 100) == b"*IDN?\n"
        os.write(controller, b"ACME\nMEAS")
        with port.read_frame() as frame:
            assert frame == b"ACME"
        os.write(controller, b":VOLT 5\n")
        assert [bytes(frame) for frame in _until_hang_up(port, controller)] == [b"MEAS:VOLT 5"]


def _until_hang_up(port: Framed, controller: int) -> Iterator[bytes]:
    frames = iter(port)
    yield bytes(next(frames))
    os.close(controller)  # the device goes away: the stream ends cleanly
    yield from (bytes(frame) for frame in frames)


@posix_only
def test_a_serial_device_with_a_baud_rate() -> None:
    controller, device = open_pty()
    with connect(os.ttyname(device), LINE, baud=115200, timeout=5) as port:
        port.send(b"MEAS?")
        assert os.read(controller, 100) == b"MEAS?\n"
        os.write(controller, b"+1.5\n")
        with port.read_frame() as frame:
            assert frame == b"+1.5"
        os.write(controller, b"+2.")  # then silence: the port's own timeout
        port.source.settimeout(0.01)  # type: ignore[union-attr]
        with pytest.raises(TimeoutError):
            port.read_frame()
        os.write(controller, b"5\n")
        port.source.settimeout(5)  # type: ignore[union-attr]
        with port.read_frame() as frame:
            assert frame == b"+2.5"  # nothing lost
    os.close(device)
    os.close(controller)


def test_bad_arguments_fail_before_anything_is_opened() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(TypeError, match="rule must be callable"):
            connect(address, b"\n")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="manager must be a BufferManager"):
            connect(address, LINE, manager=64)  # type: ignore[arg-type]
        listener.settimeout(0)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    with pytest.raises(ValueError, match="unknown scheme 'udp'"):
        connect("udp://127.0.0.1:9", LINE)
    with pytest.raises(ValueError, match="baud applies to serial devices"):
        connect("tcp://127.0.0.1:9", LINE, baud=9600)
    with pytest.raises(TypeError, match="baud must be an int, not bool"):
        connect("/dev/ttyUSB0", LINE, baud=True)
    with pytest.raises(ValueError, match="baud must be at least 1, got 0"):
        connect("/dev/ttyUSB0", LINE, baud=0)
