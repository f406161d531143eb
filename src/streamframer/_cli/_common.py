"""What the commands of ``streamframer`` share: exit codes, failures, sources, escapes.

A source is opened by the library (:func:`streamframer._io._endpoints.open_endpoint`); its errors
become the command's one-line messages here. The command hands the read functions a
:class:`Meter` over the endpoint, which counts reads and bytes for the stats line.
"""

from __future__ import annotations

import argparse
from typing import Callable

from .._io._endpoints import Endpoint, open_endpoint

__all__ = [
    "EXIT_FRAMING",
    "EXIT_IO",
    "EXIT_USAGE",
    "Failure",
    "Meter",
    "open_source",
    "parse_bytes",
    "reason",
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
