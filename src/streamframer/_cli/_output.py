"""Output formats of the ``streamframer`` command."""

from __future__ import annotations

import base64
from json import dumps
from typing import IO, Callable

__all__ = ["plural", "preview", "summary", "writer"]


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
