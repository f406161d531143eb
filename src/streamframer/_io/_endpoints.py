"""Opening the byte streams that ``connect()`` and the ``streamframer`` command talk to.

The address says what to open (:mod:`._address`): a TCP or TLS connection, a serial port
through pyserial, standard input and output, or a path (:mod:`._files`: a file, FIFO,
pseudo-terminal or character device; a regular file is opened for reading only, so that nothing
sent can overwrite it).

An :class:`Endpoint` reads like a socket (``recv_into``) or a raw file (``readinto``), so the read
functions take it as a source, and writes every byte it is given (``send`` or ``write``).
``timeout`` bounds opening it and every read: a read that gets no byte for that long raises
``TimeoutError`` having taken nothing, so nothing is lost (``socket.timeout`` on Python 3.9).
``timeout=0`` reads only what is there (a read with nothing there gives ``None`` to the read
functions); opening is then bounded by the system alone.

Errors: an address or argument that cannot work is a ``ValueError`` (``TypeError`` for a wrong
type), raised before anything is opened; failing to open is the ``OSError`` of the step that failed
(``ConnectionRefusedError``, ``ssl.SSLCertVerificationError``, ``FileNotFoundError``,
``IsADirectoryError``, ``TimeoutError``, pyserial's ``SerialException``); a serial device without
pyserial installed is a ``ModuleNotFoundError`` saying what to install.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

from ._address import parse_address
from ._checks import timeout_arg
from ._endpoint import Endpoint, _Buffer, wait_readable
from ._files import open_path, open_standard_streams

__all__ = ["Endpoint", "open_endpoint"]


def open_endpoint(
    address: str,
    *,
    timeout: float | None = None,
    baud: int | None = None,
    cafile: str | None = None,
    insecure: bool = False,
    writable: bool = False,
) -> Endpoint:
    """Open ``address`` (see :mod:`._address`); ``timeout`` bounds opening and each read.

    ``writable=True`` opens a path for writing too (not a regular file), and makes ``-`` write
    to standard output.
    """
    timeout = timeout_arg(timeout)
    if baud is not None:
        if isinstance(baud, bool) or not isinstance(baud, int):
            raise TypeError(f"baud must be an int, not {type(baud).__name__}")
        if baud < 1:
            raise ValueError(f"baud must be at least 1, got {baud}")
    where = parse_address(address, baud)
    if where.kind != "tls" and (cafile is not None or insecure):
        raise ValueError(f"cafile and insecure apply to tls:// addresses, not {address!r}")
    if where.kind in ("tcp", "tls"):
        if baud is not None:
            raise ValueError(f"baud applies to serial devices, not {address!r}")
        return _open_socket(
            address, where.host, where.port, timeout, where.kind == "tls", cafile, insecure
        )
    if where.kind == "serial":
        assert where.baud is not None
        return _open_serial(where.path, where.baud, timeout)
    if where.kind == "stdio":
        return open_standard_streams(timeout, writable)
    return open_path(where.path, timeout, writable)


# --------------------------------------------------------------------------------------------
# Sockets


class _SocketEndpoint(Endpoint):
    __slots__ = ("_sock",)

    def __init__(self, address: str, sock: socket.socket, timeout: float | None) -> None:
        super().__init__(address, timeout)
        self._sock = sock

    def recv_into(self, buffer: _Buffer, nbytes: int = 0, flags: int = 0) -> int:
        if self._timeout == 0 and not (self.pending() or wait_readable(self._sock.fileno(), 0)):
            # timeout=0 reads what is there; the socket itself stays blocking for writes.
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        return self._sock.recv_into(buffer, nbytes, flags)

    def send(self, data: bytes) -> int:
        self._sock.sendall(data)
        return len(data)

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def settimeout(self, timeout: float | None) -> None:
        super().settimeout(timeout)
        self._sock.settimeout(self._timeout or None)

    def pending(self) -> int:
        pending = getattr(self._sock, "pending", None)
        return 0 if pending is None else int(pending())


def _open_socket(
    address: str,
    host: str,
    port: int,
    timeout: float | None,
    tls: bool,
    cafile: str | None,
    insecure: bool,
) -> Endpoint:
    sock = socket.create_connection((host, port), timeout=timeout or None)
    if tls:
        import ssl  # only for tls://: importing it costs a few milliseconds at startup

        try:
            context = ssl.create_default_context(cafile=cafile)
            if insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
    return _SocketEndpoint(address, sock, timeout)


# --------------------------------------------------------------------------------------------
# Serial ports


class _SerialEndpoint(Endpoint):
    __slots__ = ("_port",)

    def __init__(self, address: str, port: Any, timeout: float | None) -> None:
        super().__init__(address, timeout)
        self._port = port

    def recv_into(self, buffer: _Buffer, nbytes: int = 0, flags: int = 0) -> int:
        # pyserial's read(n) waits for all n bytes: wait for one (up to the timeout), then take
        # whatever else has arrived, so a frame is out as soon as its last byte is.
        wanted = nbytes or len(buffer)
        data = self._port.read(max(1, min(self._port.in_waiting, wanted)))
        if not data:
            raise TimeoutError(f"no data from {self.address!r} for {self._timeout} s")
        buffer[: len(data)] = data
        return len(data)

    def send(self, data: bytes) -> int:
        self._port.write(data)
        self._port.flush()
        return len(data)

    def close(self) -> None:
        self._port.close()

    def fileno(self) -> int:
        return int(self._port.fileno())

    def settimeout(self, timeout: float | None) -> None:
        super().settimeout(timeout)
        self._port.timeout = self._timeout


def _open_serial(device: str, baud: int, timeout: float | None) -> Endpoint:
    try:
        import serial  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        raise ModuleNotFoundError(
            "a serial device needs pyserial: pip install 'pyserial>=3.5'", name="serial"
        ) from None
    return _SerialEndpoint(device, serial.Serial(device, baudrate=baud, timeout=timeout), timeout)
