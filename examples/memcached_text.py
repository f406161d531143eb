"""memcached's text protocol framed by a custom streamframer rule.

Replies are lines (``STORED``, ``END``, ``NOT_FOUND``, ``ERROR``, ...), except that a retrieval
(``get``/``gets``) answers each item found with a header line, the data, and CR LF::

    VALUE <key> <flags> <bytes> [<cas unique>]\\r\\n
    <data: exactly <bytes> bytes, anything, END\\r\\n included>\\r\\n
    ...                                  (one item per key found)
    END\\r\\n

Searching for ``END\\r\\n`` would stop inside a value that contains it: :func:`memcached_reply`
reads the header and takes exactly ``<bytes>`` bytes. One frame is one line or one item; an
item's payload is its header line, CR LF and its data (:func:`parse_item` splits them), so
``bytes(frame)`` is self-describing.

Run it against a server: ``python examples/memcached_text.py [PORT]`` (default 11211).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterable
from typing import NamedTuple

from streamframer import (
    BufferManager,
    FrameSpan,
    FramingError,
    NeedMore,
    RuleResult,
    read_frame,
)

__all__ = ["Item", "get_items", "memcached_reply", "parse_item", "storage_command"]

_CRLF = b"\r\n"
_VALUE = b"VALUE "


def memcached_reply(buffer: bytearray, scan: int) -> RuleResult:
    """A streamframer rule: one frame is one reply line, or one ``VALUE`` item with its data.

    ``scan`` tells the calls apart without state: right after CR LF it is the end of an item's
    header, and only the data's length is checked (the header is re-read: a few bytes, however
    large the data); anywhere else the header line has not ended yet and the search for its CR
    LF resumes there.
    """
    if scan >= 2 and buffer[scan - 2] == 13 and buffer[scan - 1] == 10:
        return _item(buffer, scan)
    eol = buffer.find(_CRLF, scan)
    if eol < 0:
        return NeedMore(max(0, len(buffer) - 1))
    if buffer.startswith(_VALUE):
        return _item(buffer, eol + 2)
    return FrameSpan(0, eol, eol + 2)


def _item(buffer: bytearray, data_start: int) -> RuleResult:
    """The item whose header line ends (CR LF included) at ``data_start``."""
    size = _data_size(buffer, data_start - 2)
    end = data_start + size + 2
    if len(buffer) < end:
        return NeedMore(data_start, frame_size=end)
    if buffer[end - 2] != 13 or buffer[end - 1] != 10:
        raise FramingError(
            f"{size} data bytes are not followed by b'\\r\\n': {bytes(buffer[end - 2 : end])!r}",
            end - 2,
        )
    return FrameSpan(0, end - 2, end)


def _data_size(buffer: bytearray, eol: int) -> int:
    """The ``<bytes>`` field of the ``VALUE`` header in ``buffer[:eol]``."""
    fields = bytes(buffer[:eol]).split(b" ")
    if len(fields) not in (4, 5) or not fields[3].isdigit():
        raise FramingError(f"malformed item header {bytes(buffer[:eol])!r}", 0)
    return int(fields[3])


class Item(NamedTuple):
    """One item a ``get``/``gets`` returned."""

    key: bytes
    flags: int
    data: bytes
    cas: int | None  # only from ``gets``


def parse_item(payload: bytes | bytearray | memoryview) -> Item:
    """Split an item frame's payload into its header fields and its data."""
    payload = bytes(payload)
    header, _, data = payload.partition(_CRLF)
    fields = header.split(b" ")
    cas = int(fields[4]) if len(fields) == 5 else None
    return Item(fields[1], int(fields[2]), data, cas)


def storage_command(
    command: str, key: bytes, data: bytes, *, flags: int = 0, exptime: int = 0, cas: int = 0
) -> bytes:
    """A ``set``/``add``/``replace``/``append``/``prepend``/``cas`` request."""
    unique = b" %d" % cas if command == "cas" else b""
    header = b"%s %s %d %d %d%s\r\n" % (command.encode(), key, flags, exptime, len(data), unique)
    return header + data + _CRLF


def get_items(
    sock: socket.socket, mgr: BufferManager, keys: Iterable[bytes], *, command: str = "get"
) -> list[Item]:
    """Retrieve ``keys`` (``get`` or ``gets``): the items found, in the server's order."""
    sock.sendall(command.encode() + b" " + b" ".join(keys) + _CRLF)
    items: list[Item] = []
    while True:
        with read_frame(sock, mgr, memcached_reply, timeout=10) as frame:
            payload = frame.tobytes()
        if payload == b"END":
            return items
        if not payload.startswith(_VALUE):
            raise FramingError(f"unexpected reply to {command!r}: {payload[:64]!r}")
        items.append(parse_item(payload))


def main(port: int = 11211) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        mgr = BufferManager()
        sock.sendall(storage_command("set", b"tricky", b"VALUE x 0 3\r\nEND\r\n"))
        with read_frame(sock, mgr, memcached_reply, timeout=5) as frame:
            print(bytes(frame))  # b'STORED'
        for item in get_items(sock, mgr, [b"tricky", b"absent"], command="gets"):
            print(item)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 11211)
