"""What the commands of ``streamframer`` share: exit codes, failures, sources, escapes.

A source is opened by the library (:func:`streamframer._io._endpoints.open_endpoint`); its errors
become the command's one-line messages here. The command hands the read functions a
:class:`Meter` over the endpoint, which counts reads and bytes for the stats line.
"""

from __future__ import annotations

import argparse
from typing import Callable, NoReturn

from .._io._checks import MAX_TIMEOUT, timeout_arg
from .._io._endpoints import Endpoint, open_endpoint

__all__ = [
    "EXIT_FRAMING",
    "EXIT_IO",
    "EXIT_USAGE",
    "Failure",
    "Meter",
    "Parser",
    "bytes_arg",
    "format_bytes",
    "natural_int",
    "open_source",
    "parse_bytes",
    "positive_int",
    "reason",
    "serve_address",
    "size_arg",
    "timeout_seconds",
]

EXIT_FRAMING = 1
EXIT_USAGE = 2
EXIT_IO = 3  # a connection, a timeout, a source or an output that fails

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
            out += char.encode("utf-8", "surrogateescape")  # argv bytes that are not UTF-8
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


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors in one line like the command's other errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def format_bytes(data: bytes) -> str:
    """``data`` written the way :func:`parse_bytes` reads it back, for messages: ``'\\r\\n'``."""
    names = {value: "\\" + name for name, value in _ESCAPES.items()}
    return "".join(
        names.get(byte) or (chr(byte) if 32 <= byte < 127 else f"\\x{byte:02x}") for byte in data
    )


# --------------------------------------------------------------------------------------------
# Argument types: a bad value is argparse's usage error (exit 2)


def bytes_arg(text: str) -> bytes:
    try:
        return parse_bytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    value = natural_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def natural_int(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def timeout_seconds(text: str) -> float | None:
    """Seconds (0: only what is there), or ``none`` for no bound: the library's timeout."""
    if text.lower() == "none":
        return None
    try:
        return timeout_arg(float(text))
    except ValueError:  # not a number, or one no system call takes (inf, 1e400, -1)
        raise argparse.ArgumentTypeError(
            f"must be from 0 to {MAX_TIMEOUT:.0f} seconds, got {text!r} ('none' waits for ever)"
        ) from None


def serve_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` to listen on; the host defaults to the loopback address."""
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected [HOST:]PORT, got {text!r}") from None
    if not 0 <= number < 65536:
        raise argparse.ArgumentTypeError(f"port {number} is not from 0 to 65535")
    return host.strip("[]") or "127.0.0.1", number


def size_arg(text: str) -> int | None:
    """Bytes with an optional unit, ``64K``, ``16M``, ``1G``; ``none`` for no bound."""
    if text.lower() == "none":
        return None
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    scale = units.get(text[-1:].lower(), 1)
    return positive_int(text[:-1] if scale > 1 else text) * scale


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
        try:
            received = self._read_into(buffer[:nbytes] if nbytes else buffer)
        except BlockingIOError:  # --timeout 0 and nothing there: a timeout, not a spin
            raise TimeoutError("nothing to read without waiting (--timeout 0)") from None
        self.reads += 1
        self.received += received
        if self._on_read is not None:
            self._on_read()
        return received


def open_source(args: argparse.Namespace, *, writable: bool = False) -> Endpoint:
    """The endpoint ``args.source`` names, or the :class:`Failure` that opening it met."""
    source: str = args.source
    try:
        return open_endpoint(
            source,
            timeout=args.timeout,
            baud=args.baud,
            cafile=args.cafile,
            insecure=args.insecure,
            writable=writable,
        )
    except ModuleNotFoundError as exc:
        raise Failure(EXIT_IO, str(exc)) from None
    except OSError as exc:  # first: a failed certificate check is a ValueError too
        raise Failure(EXIT_IO, f"{_opening(source, exc)}: {reason(exc)}") from None
    except (TypeError, ValueError) as exc:
        raise Failure(EXIT_USAGE, str(exc)) from None


def _opening(source: str, exc: OSError) -> str:
    if source.lower().startswith("tls://") and type(exc).__module__ == "ssl":
        return f"TLS with {source} failed"
    if "://" in source:
        return f"cannot connect to {source}"
    return f"cannot open {source!r}"


def reason(exc: BaseException) -> str:
    """The cause of an ``OSError`` in a few words: its ``strerror``, else its text."""
    if isinstance(exc, TimeoutError) or type(exc).__name__ == "timeout":
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
