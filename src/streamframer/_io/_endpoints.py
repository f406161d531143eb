"""Opening the byte streams that ``connect()`` and the ``streamframer`` command talk to.

An address names one endpoint:

=======================  =======================================================================
``tcp://host:port``      a TCP connection (an IPv6 host in brackets: ``tcp://[::1]:5025``)
``tls://host:port``      TCP with TLS; the server's certificate is verified against the system's
                         CAs, or ``cafile``, or not at all with ``insecure=True``
a device, with ``baud``  a serial port through pyserial: ``/dev/ttyUSB0``, ``COM3``
``-``                    standard input to read from; standard output to write to
any other path           a file, FIFO, pseudo-terminal or character device, opened for reading
                         (and writing, when ``writable=True``)
=======================  =======================================================================

An :class:`Endpoint` reads like a socket (``recv_into``) or a raw file (``readinto``), so the read
functions take it as a source, and writes every byte it is given (``send`` or ``write``).
``timeout`` bounds opening it and every read: a read that gets no byte for that long raises
``TimeoutError`` having taken nothing, so nothing is lost (``socket.timeout`` on Python 3.9).

Errors: an address or argument that cannot work is a ``ValueError`` (``TypeError`` for a wrong
type), raised before anything is opened; failing to open is the ``OSError`` of the step that failed
(``ConnectionRefusedError``, ``ssl.SSLCertVerificationError``, ``FileNotFoundError``,
``IsADirectoryError``, ``TimeoutError``, pyserial's ``SerialException``); a serial device without
pyserial installed is a ``ModuleNotFoundError`` saying what to install.
"""

from __future__ import annotations

import abc
import errno
import io
import math
import os
import select
import socket
import stat
import sys
import threading
from types import TracebackType
from typing import Any, Union
from urllib.parse import urlsplit

__all__ = ["Endpoint", "open_endpoint"]

#: Longest timeout the system calls take (about 292 years).
MAX_TIMEOUT = threading.TIMEOUT_MAX

_Buffer = Union[bytearray, memoryview]


class Endpoint(abc.ABC):
    """An opened byte stream, from :func:`open_endpoint`; ``with`` closes it.

    Reads wait up to the timeout for the first byte, then return what has arrived (0 at the end
    of the stream); writes send everything. ``settimeout``, ``gettimeout``, ``fileno`` and
    ``pending`` are the socket methods the read functions use to wait with a deadline.
    """

    __slots__ = ("_timeout", "address")

    def __init__(self, address: str, timeout: float | None) -> None:
        #: The address it was opened from.
        self.address = address
        self._timeout = timeout

    @abc.abstractmethod
    def recv_into(self, buffer: _Buffer, nbytes: int = 0, flags: int = 0) -> int:
        """Read up to ``nbytes`` (default: the buffer's size) into ``buffer``; 0 at the end."""

    def readinto(self, buffer: _Buffer) -> int:
        """Read into ``buffer``, as :meth:`recv_into` does."""
        return self.recv_into(buffer)

    @abc.abstractmethod
    def send(self, data: bytes) -> int:
        """Write all of ``data`` (blocking until it is written); return ``len(data)``."""

    def write(self, data: bytes) -> int:
        """Write all of ``data``, as :meth:`send` does."""
        return self.send(data)

    @abc.abstractmethod
    def close(self) -> None:
        """Close the stream; closing again does nothing."""

    @abc.abstractmethod
    def fileno(self) -> int:
        """The descriptor to wait on before a read."""

    def gettimeout(self) -> float | None:
        """Seconds a read waits for its first byte (``None``: for ever)."""
        return self._timeout

    def settimeout(self, timeout: float | None) -> None:
        """Change how long a read waits for its first byte (``None``: for ever)."""
        self._timeout = timeout_arg(timeout)

    def pending(self) -> int:
        """Bytes already received and decrypted that a read returns without waiting (TLS)."""
        return 0

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address!r}>"


def open_endpoint(
    address: str,
    *,
    timeout: float | None = None,
    baud: int | None = None,
    cafile: str | None = None,
    insecure: bool = False,
    writable: bool = False,
) -> Endpoint:
    """Open ``address`` (see the module docstring); ``timeout`` bounds opening and each read.

    ``writable=True`` opens a path for writing too, and makes ``-`` write to standard output.
    """
    if not isinstance(address, str):
        raise TypeError(f"address must be a str, not {type(address).__name__}")
    timeout = timeout_arg(timeout)
    scheme = address.split("://", 1)[0].lower() if "://" in address else None
    if scheme is not None and scheme not in ("tcp", "tls"):
        raise ValueError(f"unknown scheme {scheme!r} in {address!r}: use tcp:// or tls://")
    if scheme != "tls" and (cafile is not None or insecure):
        raise ValueError(f"cafile and insecure apply to tls:// addresses, not {address!r}")
    if scheme is not None:
        if baud is not None:
            raise ValueError(f"baud applies to serial devices, not {address!r}")
        host, port = _host_port(address)
        return _open_socket(address, host, port, timeout, scheme == "tls", cafile, insecure)
    if baud is not None:
        if isinstance(baud, bool) or not isinstance(baud, int):
            raise TypeError(f"baud must be an int, not {type(baud).__name__}")
        if baud < 1:
            raise ValueError(f"baud must be at least 1, got {baud}")
        return _open_serial(address, baud, timeout)
    if address == "-":
        return _open_standard_streams(timeout, writable)
    return _open_path(address, timeout, writable)


def timeout_arg(timeout: object) -> float | None:
    """``timeout`` checked: ``None``, or a positive finite number of seconds the system takes."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"timeout must be a number of seconds or None, not {type(timeout).__name__}"
        )
    if not (0 < timeout <= MAX_TIMEOUT):
        hint = " (None waits for ever)" if math.isinf(timeout) else ""
        raise ValueError(
            f"timeout must be more than 0 and at most {MAX_TIMEOUT:.0f} seconds, "
            f"got {timeout!r}{hint}"
        )
    return float(timeout)


# --------------------------------------------------------------------------------------------
# Sockets


def _host_port(address: str) -> tuple[str, int]:
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError as exc:  # an unclosed IPv6 bracket, a port out of range or not a number
        raise ValueError(f"bad address {address!r}: {exc}; expected scheme://host:port") from None
    if not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ValueError(f"bad address {address!r}: expected scheme://host:port")
    return parts.hostname, port


class _SocketEndpoint(Endpoint):
    __slots__ = ("_sock",)

    def __init__(self, address: str, sock: socket.socket, timeout: float | None) -> None:
        super().__init__(address, timeout)
        self._sock = sock

    def recv_into(self, buffer: _Buffer, nbytes: int = 0, flags: int = 0) -> int:
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
        self._sock.settimeout(self._timeout)

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
    sock = socket.create_connection((host, port), timeout=timeout)
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
            "a serial device needs pyserial: pip install 'streamframer[serial]'", name="serial"
        ) from None
    return _SerialEndpoint(device, serial.Serial(device, baudrate=baud, timeout=timeout), timeout)


# --------------------------------------------------------------------------------------------
# Files, FIFOs, terminals, standard input and output


class _FileEndpoint(Endpoint):
    __slots__ = ("_close_fds", "_read_fd", "_reader", "_write_fd")

    def __init__(
        self,
        address: str,
        read_fd: int,
        write_fd: int | None,
        timeout: float | None,
        *,
        close_fds: bool,
    ) -> None:
        super().__init__(address, timeout)
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._close_fds = close_fds
        self._reader = io.FileIO(read_fd, "rb", closefd=False)

    def recv_into(self, buffer: _Buffer, nbytes: int = 0, flags: int = 0) -> int:
        # select() takes only sockets on Windows: there a read waits for ever.
        if self._timeout is not None and os.name != "nt":
            readable, _, _ = select.select([self._read_fd], [], [], self._timeout)
            if not readable:
                raise TimeoutError(f"no data from {self.address!r} for {self._timeout} s")
        if nbytes:
            with memoryview(buffer)[:nbytes] as part:
                received = self._reader.readinto(part)
        else:
            received = self._reader.readinto(buffer)
        if received is None:  # a non-blocking descriptor with nothing to read
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        return received

    def send(self, data: bytes) -> int:
        if self._write_fd is None:
            raise io.UnsupportedOperation(
                f"{self.address!r} was opened for reading only: open it with writable=True"
            )
        with memoryview(data) as rest:
            while rest:
                rest = rest[os.write(self._write_fd, rest) :]
        return len(data)

    def close(self) -> None:
        if self._reader.closed:
            return
        self._reader.close()
        if self._close_fds:
            os.close(self._read_fd)

    def fileno(self) -> int:
        return self._read_fd


def _open_standard_streams(timeout: float | None, writable: bool) -> Endpoint:
    # With a descriptor closed at startup, Python sets the stream to None; the descriptor's
    # number may since belong to something else, so it must not be used.
    if sys.stdin is None:
        raise OSError(errno.EBADF, "standard input is closed")
    write_fd = None
    if writable:
        if sys.stdout is None:
            raise OSError(errno.EBADF, "standard output is closed")
        sys.stdout.flush()
        write_fd = sys.stdout.fileno()
    return _FileEndpoint("-", sys.stdin.fileno(), write_fd, timeout, close_fds=False)


def _open_path(path: str, timeout: float | None, writable: bool) -> Endpoint:
    flags = (os.O_RDWR if writable else os.O_RDONLY) | getattr(os, "O_BINARY", 0)
    # open() of a FIFO without a writer, or of a terminal waiting for its carrier, blocks
    # for as long as it likes; non-blocking, it returns at once and the first read waits.
    nonblocking = timeout is not None and hasattr(os, "O_NONBLOCK")
    if nonblocking:
        flags |= os.O_NONBLOCK
    fd = os.open(path, flags)
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if nonblocking:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return _FileEndpoint(path, fd, fd if writable else None, timeout, close_fds=True)
