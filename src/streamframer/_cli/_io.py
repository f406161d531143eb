"""Sources and output formats of the ``streamframer`` command.

A source is opened into an :class:`Endpoint`: something to read into a buffer (``read_into``), to
write a command to (``send``) and to close. The command hands the library a :class:`Meter` over
it, an object with ``recv_into`` like a socket, which counts reads and bytes for the stats line.
"""

from __future__ import annotations

import base64
import os
import select
import socket
import sys
from json import dumps
from typing import IO, Any, Callable
from urllib.parse import urlsplit

__all__ = [
    "Endpoint",
    "Failure",
    "Meter",
    "open_endpoint",
    "parse_bytes",
    "plural",
    "preview",
    "summary",
    "writer",
]

EXIT_FRAMING = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3

_ESCAPES = {"n": 10, "r": 13, "t": 9, "0": 0, "a": 7, "e": 27, "\\": 92}


class Failure(Exception):
    """Ends the command with ``code`` after printing ``message`` on stderr."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_bytes(text: str) -> bytes:
    """``text`` as bytes, with the escapes ``\\n \\r \\t \\0 \\a \\e \\\\`` and ``\\xHH``."""
    out = bytearray()
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\":
            out += char.encode()
            i += 1
            continue
        escape = text[i + 1 : i + 2]
        if escape == "x":
            digits = text[i + 2 : i + 4]
            try:
                if len(digits) != 2:
                    raise ValueError
                out.append(int(digits, 16))
            except ValueError:
                raise ValueError(
                    f"bad escape {text[i : i + 4]!r}: \\x takes two hex digits"
                ) from None
            i += 4
        elif escape in _ESCAPES:
            out.append(_ESCAPES[escape])
            i += 2
        else:
            raise ValueError(
                f"unknown escape {text[i : i + 2]!r} (known: \\n \\r \\t \\0 \\a \\e \\\\ \\xHH)"
            )
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Sources


class Endpoint:
    """An opened source: ``read_into(view) -> int`` (0 at the end), ``send(data)``, ``close()``."""

    def __init__(
        self,
        read_into: Callable[[memoryview], int],
        send: Callable[[bytes], None],
        close: Callable[[], None],
    ) -> None:
        self.read_into = read_into
        self.send = send
        self.close = close


class Meter:
    """The source the library reads from: counts reads and bytes, reports each read."""

    __slots__ = ("_on_read", "_read_into", "reads", "received")

    def __init__(
        self, read_into: Callable[[memoryview], int], on_read: Callable[[], None] | None = None
    ) -> None:
        self._read_into = read_into
        self._on_read = on_read
        self.reads = 0
        self.received = 0

    def recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:
        received = self._read_into(buffer[:nbytes] if nbytes else buffer)
        self.reads += 1
        self.received += received
        if self._on_read is not None:
            self._on_read()
        return received


def open_endpoint(
    source: str,
    *,
    timeout: float | None,
    baud: int | None = None,
    cafile: str | None = None,
    insecure: bool = False,
    writable: bool = False,
) -> Endpoint:
    """Open ``source``: ``tcp://host:port``, ``tls://host:port``, ``-`` (stdin), a serial device
    (when ``baud`` is given) or a file; only the first three when ``writable``.

    Raises :class:`Failure` when it cannot be opened.
    """
    if "://" in source:
        scheme = source.split("://", 1)[0].lower()
        if scheme not in ("tcp", "tls"):
            raise Failure(
                EXIT_USAGE, f"unknown scheme {scheme!r} in {source!r}: use tcp:// or tls://"
            )
        host, port = _host_port(source)
        tls = scheme == "tls"
        return _open_socket(host, port, timeout, tls=tls, cafile=cafile, insecure=insecure)
    if baud is not None:
        return _open_serial(source, baud, timeout)
    if writable:
        raise Failure(
            EXIT_USAGE,
            f"cannot send to {source!r}: use tcp://host:port, tls://host:port or a serial device "
            "with --baud",
        )
    if source == "-":
        return _file_endpoint(sys.stdin.fileno(), timeout, closefd=False)
    try:
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise Failure(EXIT_CONNECTION, f"cannot open {source!r}: {exc.strerror}") from None
    return _file_endpoint(fd, timeout, closefd=True)


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or parts.path not in ("", "/"):
        raise Failure(EXIT_USAGE, f"bad address {url!r}: expected scheme://host:port")
    return parts.hostname, port


def _open_socket(
    host: str,
    port: int,
    timeout: float | None,
    *,
    tls: bool,
    cafile: str | None,
    insecure: bool,
) -> Endpoint:
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise Failure(EXIT_CONNECTION, f"cannot connect to {host}:{port}: {_reason(exc)}") from None
    if tls:
        import ssl

        try:
            context = ssl.create_default_context(cafile=cafile)
            if insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock, server_hostname=host)
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise Failure(
                EXIT_CONNECTION, f"TLS with {host}:{port} failed: {_reason(exc)}"
            ) from None
    sock.settimeout(timeout)
    return Endpoint(sock.recv_into, sock.sendall, sock.close)


def _open_serial(device: str, baud: int, timeout: float | None) -> Endpoint:
    try:
        import serial  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        raise Failure(
            EXIT_CONNECTION,
            "reading a serial device needs pyserial: pip install 'streamframer[serial]'",
        ) from None
    try:
        port: Any = serial.Serial(device, baudrate=baud, timeout=timeout)
    except (OSError, ValueError) as exc:
        raise Failure(EXIT_CONNECTION, f"cannot open serial device {device!r}: {exc}") from None

    def read_into(view: memoryview) -> int:
        # Block for the first byte (up to the timeout), then take whatever else has arrived.
        data = port.read(max(1, min(port.in_waiting, len(view))))
        if not data:
            raise TimeoutError(f"no data for {timeout} s")
        view[: len(data)] = data
        return len(data)

    def send(data: bytes) -> None:
        port.write(data)
        port.flush()

    return Endpoint(read_into, send, port.close)


def _file_endpoint(fd: int, timeout: float | None, *, closefd: bool) -> Endpoint:
    stream = open(fd, "rb", buffering=0, closefd=closefd)  # noqa: SIM115 - closed by Endpoint

    def read_into(view: memoryview) -> int:
        if timeout is not None and os.name != "nt":  # select() takes only sockets on Windows
            readable, _, _ = select.select([fd], [], [], timeout)
            if not readable:
                raise TimeoutError(f"no data for {timeout} s")
        return stream.readinto(view) or 0

    return Endpoint(read_into, _read_only, stream.close)


def _read_only(data: bytes) -> None:
    raise AssertionError("open_endpoint(writable=False) gave a read-only endpoint")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


# --------------------------------------------------------------------------------------------
# Output formats: each writes a batch of payloads; ``index`` is the first one's number.


def writer(fmt: str, out: IO[bytes]) -> Callable[[list[bytes], int], None]:
    """The function that writes a batch of payloads to ``out`` in format ``fmt``."""

    def text(batch: list[bytes], index: int) -> None:
        data = b"\n".join(batch)
        if not data.isascii():  # bytes that are not UTF-8 are shown as \xNN
            data = data.decode("utf-8", "backslashreplace").encode("utf-8")
        out.write(data + b"\n")

    def hexadecimal(batch: list[bytes], index: int) -> None:
        out.write("".join(payload.hex(" ") + "\n" for payload in batch).encode("ascii"))

    def json_lines(batch: list[bytes], index: int) -> None:
        # Formatted by hand around json.dumps of the one string: 3x faster than a dict per line.
        lines = []
        for number, payload in enumerate(batch, index):
            try:
                value = '"text": ' + dumps(payload.decode("utf-8"))
            except UnicodeDecodeError:
                value = '"base64": "' + base64.b64encode(payload).decode("ascii") + '"'
            lines.append(f'{{"index": {number}, "length": {len(payload)}, {value}}}\n')
        out.write("".join(lines).encode("ascii"))

    def raw(batch: list[bytes], index: int) -> None:
        out.write(b"".join(batch))

    formats: dict[str, Callable[[list[bytes], int], None]] = {
        "text": text,
        "hex": hexadecimal,
        "json": json_lines,
        "raw": raw,
    }
    return formats[fmt]


def summary(payload: bytes, limit: int = 16) -> str:
    """``payload`` in one line: its size and its first bytes in hex."""
    head = payload[:limit].hex(" ")
    more = " ..." if len(payload) > limit else ""
    return f"{len(payload)} bytes: {head}{more}"


def preview(data: bytes, limit: int = 32) -> str:
    """``data`` as a repr, cut after ``limit`` bytes."""
    return repr(data) if len(data) <= limit else f"{data[:limit]!r}..."


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
