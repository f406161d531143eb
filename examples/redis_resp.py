"""Redis replies framed by a custom streamframer rule (RESP2 and RESP3).

A Redis reply is one RESP value: a line (``+OK``, ``-ERR ...``, ``:42``, RESP3 ``_ # , (``), a
length-prefixed blob (``$5\\r\\nhello\\r\\n``, RESP3 ``! =``), or an aggregate whose header counts
the values that follow (``*`` arrays, RESP3 ``% ~ > |``), nested to any depth. Blobs carry any
bytes, ``\\r\\n`` and ``\\x00`` included, so a reply cannot be found by searching for a delimiter:
:func:`resp_reply` walks the value's structure instead. One frame is one whole reply; its
payload is the reply's bytes exactly as sent, which :func:`decode` turns into Python values.

Run it against a server: ``python examples/redis_resp.py [PORT]`` (default 6379 on 127.0.0.1).

Cost. The rule is called again after every read that did not complete the reply, and keeps no
state between calls (the rule contract): what it knows lives in ``scan``. While a blob's body or
a long line is arriving, each call costs O(1): ``scan`` points at the blob's header (re-parsed,
a few bytes) or at the end of the unfinished line, and the bytes in between are never looked at
again. A huge blob is refused at once if its declared size exceeds the manager's ``max_size``
(``NeedMore(..., frame_size=...)``). When an element completes inside an aggregate, the rule
re-walks the aggregate's headers (not the blob bodies, which it jumps over) from the start, as
an integer cannot also remember how many elements are still due: a reply with very many small
elements arriving in many reads costs elements x reads. That is the price of a stateless rule;
a stateful streaming parser (hiredis) is the tool for replies of millions of elements.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterable, Sequence

from streamframer import (
    BufferManager,
    Framed,
    FrameSpan,
    FramingError,
    NeedMore,
    RuleResult,
    read_frame,
)

__all__ = [
    "RESP",
    "Push",
    "ReplyError",
    "Resp",
    "decode",
    "encode_command",
    "pipeline",
    "read_replies",
    "resp_reply",
]

_CRLF = b"\r\n"
# Type bytes, as ints (``buffer[i]`` is an int).
_LINES = frozenset(b"+-:_#,(")  # a value that is one line
_BLOBS = frozenset(b"$!=")  # a length line, then that many bytes and CRLF
_AGGREGATES = {ord("*"): 1, ord("~"): 1, ord(">"): 1, ord("%"): 2}  # elements per count
_ATTRIBUTE = ord("|")  # a map of metadata *before* the value it describes
_NULLABLE = frozenset(b"$*")  # RESP2 null bulk ``$-1`` and null array ``*-1``
_KNOWN = _LINES | _BLOBS | _AGGREGATES.keys() | {_ATTRIBUTE}
_MIN_VALUE_SIZE = 3  # ``_\r\n``: every value still due takes at least this many bytes


def resp_reply(buffer: bytearray, scan: int) -> RuleResult:
    """A streamframer rule: one frame is one complete RESP reply, payload = its bytes.

    ``scan`` is 0 for a fresh reply. Otherwise it is what the previous call returned, and the
    two bytes before it say which: after CR LF, ``scan`` is the start of the value the walk
    stopped at (a blob waiting for its body, or a header line still arriving); anywhere else it
    is the end of an unfinished line, where the search for its CR LF resumes.
    """
    if scan >= 2 and buffer[scan - 2] == 13 and buffer[scan - 1] == 10:
        waiting = _still_waiting(buffer, scan)
    elif scan > 0:
        # Inside a line that had no CR LF up to here: only a CR LF from here on can help.
        waiting = None if buffer.find(_CRLF, scan) >= 0 else NeedMore(len(buffer) - 1)
    else:
        waiting = None
    return _walk(buffer) if waiting is None else waiting


def _still_waiting(buffer: bytearray, at: int) -> NeedMore | None:
    """``NeedMore`` if the value starting at ``at`` is still incomplete, else ``None``.

    Only the value's own header is examined: a few bytes, however large the blob.
    """
    if at >= len(buffer):
        return NeedMore(at)  # its first byte has not arrived yet
    eol = buffer.find(_CRLF, at + 1)
    if eol < 0:
        return NeedMore(max(at, len(buffer) - 1))
    if buffer[at] in _BLOBS:
        size = _integer(buffer, at + 1, eol)
        end = eol + 2 + size + 2
        if size >= 0 and end > len(buffer):
            return NeedMore(at, frame_size=end)
    return None


def _walk(buffer: bytearray) -> RuleResult:
    """Walk the reply from its first byte: count the values still due until none is left."""
    length = len(buffer)
    due = 1  # values still to read: the reply itself, plus what aggregate headers announce
    pos = 0
    while due:
        if pos >= length:
            return NeedMore(pos, frame_size=pos + _MIN_VALUE_SIZE * due)
        kind = buffer[pos]
        if kind not in _KNOWN:
            raise FramingError(
                f"unknown RESP type byte {bytes(buffer[pos : pos + 1])!r} at offset {pos}", pos
            )
        eol = buffer.find(_CRLF, pos + 1)
        if eol < 0:
            return NeedMore(max(pos, length - 1))
        if kind in _LINES:
            due -= 1
            pos = eol + 2
        elif kind in _BLOBS:
            size = _integer(buffer, pos + 1, eol)
            if size < 0:
                _check_null(buffer, pos, eol, size)
                due -= 1
                pos = eol + 2
                continue
            end = eol + 2 + size + 2
            if end > length:
                return NeedMore(pos, frame_size=end + _MIN_VALUE_SIZE * (due - 1))
            if buffer[end - 2] != 13 or buffer[end - 1] != 10:
                raise FramingError(
                    f"blob of {size} bytes at offset {pos} is not followed by b'\\r\\n': "
                    f"{bytes(buffer[end - 2 : end])!r}",
                    end - 2,
                )
            due -= 1
            pos = end
        elif kind in _AGGREGATES:
            count = _integer(buffer, pos + 1, eol)
            if count < 0:
                _check_null(buffer, pos, eol, count)
                count = 0
            due += _AGGREGATES[kind] * count - 1
            pos = eol + 2
        else:  # an attribute: its pairs come first, the value it describes is still due
            count = _integer(buffer, pos + 1, eol)
            if count < 0:
                _check_null(buffer, pos, eol, count)
            due += 2 * count
            pos = eol + 2
    return FrameSpan(0, pos, pos)


def _integer(buffer: bytearray, start: int, end: int) -> int:
    """The decimal integer in ``buffer[start:end]``, strictly (``int()`` alone would accept
    spaces, ``+`` and ``_``)."""
    text = bytes(buffer[start:end])
    digits = text[1:] if text[:1] == b"-" else text
    if not digits.isdigit():
        raise FramingError(f"bad RESP length {text!r} at offset {start}", start)
    return int(text)


def _check_null(buffer: bytearray, pos: int, eol: int, size: int) -> None:
    if size != -1 or buffer[pos] not in _NULLABLE:
        raise FramingError(
            f"negative RESP length in {bytes(buffer[pos:eol])!r} at offset {pos}", pos
        )


# ------------------------------------------------------------------------------------------------
# Requests and values: what a client needs around the rule.


def encode_command(*args: bytes | str | int) -> bytes:
    """One request, as Redis wants it: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class Resp:
    """:func:`resp_reply` with an encoder for commands, for a connection in both directions:
    ``Framed(sock, RESP).query(("GET", "key"))`` sends the command as an array of bulk strings
    and returns the reply's bytes, for :func:`decode`."""

    def __call__(self, buffer: bytearray, scan: int) -> RuleResult:
        return resp_reply(buffer, scan)

    def encode(self, command: Sequence[bytes | str | int]) -> bytes:
        if not command:
            raise ValueError("a command needs at least its name")
        return encode_command(*command)

    def __repr__(self) -> str:
        return "RESP"


#: The rule to give ``Framed``: replies in, commands out.
RESP = Resp()


class ReplyError(str):
    """An error reply (``-ERR ...`` or RESP3 ``!``): a value, not an exception, so that one
    failed command in a pipeline does not hide the replies after it."""


class Push(list[object]):
    """A RESP3 push message (``>``): pub/sub messages and invalidations, out of band."""


def decode(reply: bytes | bytearray | memoryview) -> object:
    """The Python value of one complete reply (a frame's payload).

    ``+`` str, ``-``/``!`` :class:`ReplyError`, ``:``/``(`` int, ``$`` bytes or ``None``,
    ``*``/``~`` list or ``None``, ``%`` dict, ``>`` :class:`Push`, ``_`` None, ``#`` bool,
    ``,`` float, ``=`` bytes (the format prefix dropped); attributes are skipped.
    """
    data = bytes(reply)
    value, end = _decode_at(data, 0)
    if end != len(data):
        raise ValueError(f"{len(data) - end} bytes after the reply: {data[end : end + 32]!r}")
    return value


def _decode_at(data: bytes, pos: int) -> tuple[object, int]:
    eol = data.index(_CRLF, pos)
    kind, text, pos = data[pos : pos + 1], data[pos + 1 : eol], eol + 2
    if kind == b"|":  # attribute: read and drop its pairs, then the value itself
        for _ in range(2 * int(text)):
            _, pos = _decode_at(data, pos)
        return _decode_at(data, pos)
    if kind in (b"$", b"!", b"="):
        if int(text) < 0:
            return None, pos
        blob, pos = data[pos : pos + int(text)], pos + int(text) + 2
        if kind == b"!":
            return ReplyError(blob.decode()), pos
        return (blob[4:] if kind == b"=" else blob), pos
    if kind in (b"*", b"~", b">", b"%"):
        if int(text) < 0:
            return None, pos
        items = []
        for _ in range(int(text) * (2 if kind == b"%" else 1)):
            item, pos = _decode_at(data, pos)
            items.append(item)
        if kind == b"%":
            return dict(zip(items[::2], items[1::2])), pos
        return (Push(items) if kind == b">" else items), pos
    simple: dict[bytes, object] = {
        b"+": text.decode(),
        b"-": ReplyError(text.decode()),
        b"_": None,
        b"#": text == b"t",
    }
    if kind in simple:
        return simple[kind], pos
    if kind == b",":
        return float(text), pos
    return int(text), pos  # ":" and "("


def pipeline(
    sock: socket.socket, mgr: BufferManager, commands: Iterable[tuple[bytes | str | int, ...]]
) -> list[object]:
    """Send every command at once, then read exactly one reply per command, in order.

    Use one ``mgr`` per connection for its whole life: it may hold bytes of the next reply.
    """
    requests = [encode_command(*command) for command in commands]
    sock.sendall(b"".join(requests))
    return read_replies(sock, mgr, len(requests))


def read_replies(sock: socket.socket, mgr: BufferManager, count: int) -> list[object]:
    """The next ``count`` replies (or pub/sub messages), decoded."""
    replies = []
    for _ in range(count):
        with read_frame(sock, mgr, resp_reply, timeout=10) as frame:
            replies.append(decode(frame.view))
    return replies


def main(port: int = 6379) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        replies = pipeline(
            sock,
            BufferManager(),
            [
                ("SET", "greeting", b"line one\r\nline two\x00"),
                ("GET", "greeting"),
                ("RPUSH", "letters", "a", "b\r\n", "c"),
                ("LRANGE", "letters", 0, -1),
                ("GET", "no such key"),
            ],
        )
    for reply in replies:
        print(repr(reply))
    # One command at a time, both directions through one rule object.
    with Framed(socket.create_connection(("127.0.0.1", port), timeout=5), RESP) as redis:
        print(repr(decode(redis.query(("STRLEN", "greeting")))))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 6379)
