"""Where the ``streamframer`` command prints frames, and in which format.

Text output guarantees one line per frame: a payload's control bytes (newlines, ESC, BEL, NUL...)
are written as escapes, ``\\n`` ``\\r`` ``\\t`` ``\\xNN``, and bytes that are not UTF-8 as
``\\xNN``, so no payload can end a line early, move the cursor or ring the bell. The escaping is
for reading, not for parsing back (a backslash stays as it is): ``json``, ``hex`` and ``raw`` are
exact.
"""

from __future__ import annotations

import base64
import os
import sys
from json import dumps
from typing import IO, Callable

from ._common import EXIT_IO, Failure, reason

__all__ = ["Output", "ReaderGone", "plural", "preview", "summary", "writer"]

# C0 controls and DEL as \xNN (\t \n \r by name); C1 controls, which some terminals obey, as \u00NN
_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]}
_ESCAPES.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})
_ESCAPES.update({code: f"\\u{code:04x}" for code in range(0x80, 0xA0)})
_CONTROL_BYTES = bytes([*range(0x20), 0x7F])


class ReaderGone(Exception):
    """Standard output's reader went away (``| head``): stop quietly."""


class Output:
    """Standard output, for frames: a failed write ends the command (exit 3) naming the output."""

    def __init__(self, fmt: str) -> None:
        if sys.stdout is None:  # closed when the command started
            raise Failure(EXIT_IO, "standard output is closed: nowhere to print the frames")
        self.stream = sys.stdout.buffer
        self._write = writer(fmt, self.stream)

    def write(self, batch: list[bytes], index: int) -> None:
        """Print a batch of payloads, the first numbered ``index``, and flush them."""
        self.run(self._write, batch, index)

    def run(self, write: Callable[..., object], *args: object) -> None:
        """Call ``write(*args)`` and flush: the output's errors become the command's."""
        try:
            write(*args)
            self.stream.flush()
        except BrokenPipeError:
            self._silence()
            raise ReaderGone from None
        except OSError as exc:
            self._silence()
            raise Failure(EXIT_IO, f"cannot write the output: {reason(exc)}") from None

    def _silence(self) -> None:
        # What stays buffered is flushed again at exit: let that go to /dev/null, not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())


# --------------------------------------------------------------------------------------------
# Output formats: each writes a batch of payloads; ``index`` is the first one's number.


def writer(fmt: str, out: IO[bytes]) -> Callable[[list[bytes], int], None]:
    """The function that writes a batch of payloads to ``out`` in format ``fmt``."""

    def text(batch: list[bytes], index: int) -> None:
        data = b"\n".join(batch)
        # One pass finds the common case: ASCII whose only control bytes are the separators.
        if (
            data.isascii()
            and len(data) - len(data.translate(None, _CONTROL_BYTES)) == len(batch) - 1
        ):
            out.write(data + b"\n")
        else:
            out.write("".join(map(escaped_line, batch)).encode("utf-8"))

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


def escaped_line(payload: bytes) -> str:
    """``payload`` as one line of text, its control bytes and bytes that are not UTF-8 escaped."""
    return payload.decode("utf-8", "backslashreplace").translate(_ESCAPES) + "\n"


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
