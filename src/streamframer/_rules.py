"""Framing rules: the one place where a stream's protocol is described.

The rule contract
=================

A rule is any callable ``rule(buffer, scan) -> NeedMore | FrameSpan | Skip``:

``buffer``
    A ``bytearray`` holding exactly the unconsumed bytes: ``buffer[0]`` is the oldest byte not yet
    consumed, ``len(buffer)`` is how many are buffered. Read it, never change it, and keep no
    reference to it after returning.
``scan``
    Where to resume scanning: ``0`` for a fresh frame, otherwise the ``resume`` this rule returned
    on its previous call for the same frame. Bytes before ``scan`` were already examined.

It answers one of three things:

``NeedMore(resume, frame_size=None)``
    No complete frame yet. The manager calls again, with ``scan=resume``, once more bytes arrived.
    ``0 <= resume <= len(buffer)``. A rule that already knows the size of the whole frame (a length
    header) says so in ``frame_size``: the manager then refuses an oversized frame at once, before
    its body arrives, and reads straight up to it.
``FrameSpan(start, end, consume)``
    One frame: its payload is ``buffer[start:end]``, and consuming it removes the first ``consume``
    bytes (header, payload and trailer). ``0 <= start <= end <= consume <= len(buffer)`` and
    ``consume > 0``. Header-then-body framings use ``start > 0``; delimiter framings have
    ``end < consume``.
``Skip(nbytes)``
    The first ``nbytes`` bytes belong to no frame (noise before a start marker): the manager drops
    them, adds them to ``BufferManager.skipped``, and calls again at once with ``scan=0``.
    ``0 < nbytes <= len(buffer)``. Resynchronising rules need it to stay linear.

A rule may raise :class:`~streamframer.FramingError` when the bytes cannot be a valid frame.

Rules keep no state between calls: everything a rule needs to resume lives in ``scan``, which the
manager stores. So one rule object serves any number of streams and threads.

Goal: linear time. Resume where the previous call stopped, never rescan from 0 while waiting: a
peer that sends one byte at a time must cost O(n) in total, not O(n**2). The built-in rules resume
``len(delimiter) - 1`` bytes before the end, so a delimiter split across reads is still found.

A custom rule, for a 2-byte big-endian length header::

    def u16_prefixed(buffer, scan):
        if len(buffer) < 2:
            return NeedMore(0)
        size = 2 + int.from_bytes(buffer[:2], "big")
        if len(buffer) < size:
            return NeedMore(0, frame_size=size)
        return FrameSpan(2, size, size)
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Union

__all__ = [
    "Delimited",
    "FrameSpan",
    "NeedMore",
    "Rule",
    "RuleResult",
    "Skip",
    "until_delim",
    "until_eot",
]


class NeedMore(NamedTuple):
    """A rule's answer when no complete frame is buffered yet."""

    #: Where the next call should resume scanning (``scan``), at most ``len(buffer)``.
    resume: int
    #: The whole frame's size in bytes, when the rule already knows it (from a length header).
    frame_size: int | None = None


class Skip(NamedTuple):
    """A rule's answer when the first bytes belong to no frame and should be dropped."""

    #: How many bytes to drop from the front of the buffer.
    nbytes: int


class FrameSpan(NamedTuple):
    """A rule's answer when one complete frame is buffered."""

    #: Index of the first payload byte.
    start: int
    #: Index one past the last payload byte.
    end: int
    #: How many bytes consuming the frame removes from the front of the buffer.
    consume: int


RuleResult = Union[NeedMore, FrameSpan, Skip]
#: The rule contract: ``rule(buffer, scan) -> NeedMore | FrameSpan | Skip`` (module docstring).
Rule = Callable[[bytearray, int], RuleResult]


class Delimited:
    """The rule :func:`until_delim` and :func:`until_eot` build: a frame ends at a delimiter.

    The buffer manager recognises it and runs the same search inline (no result objects), which is
    what makes the per-frame path fast; calling it follows the public contract like any rule.
    """

    __slots__ = ("_eot", "_length", "_needle", "_plain", "delimiter", "keep_delimiter", "strip")

    def __init__(
        self, delimiter: bytes, *, strip: int | None, keep_delimiter: bool, eot: bool = False
    ) -> None:
        self.delimiter = delimiter
        self._eot = eot  # built by until_eot(): only its repr differs
        self._length = len(delimiter)
        # find() takes a one-byte needle as an int without acquiring a buffer: a little faster.
        self._needle: bytes | int = delimiter[0] if len(delimiter) == 1 else delimiter
        #: True when the payload is simply what precedes the delimiter (the common case).
        self._plain = strip is None and not keep_delimiter
        self.strip = strip
        self.keep_delimiter = keep_delimiter

    def __call__(self, buffer: bytearray, scan: int) -> RuleResult:
        delimiter = self.delimiter
        index = buffer.find(delimiter, scan)
        if index < 0:
            # A delimiter may already have started in the last len(delimiter) - 1 bytes.
            return NeedMore(max(0, len(buffer) - len(delimiter) + 1))
        consume = index + len(delimiter)
        if self.keep_delimiter:
            return FrameSpan(0, consume, consume)
        if index and buffer[index - 1] == self.strip:
            index -= 1
        return FrameSpan(0, index, consume)

    def _key(self) -> tuple[bytes, int | None, bool]:
        return (self.delimiter, self.strip, self.keep_delimiter)

    def __eq__(self, other: object) -> bool:
        # Equal rules frame alike, so a manager keeps its scan position when it is handed an
        # equal rule built anew (until_delim(b"\n") inside a read loop stays linear).
        if type(other) is not Delimited:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        if self._eot:
            return f"until_eot({self.delimiter[0]:#04x})"
        options = ""
        if self.strip is not None:
            options += f", strip={bytes([self.strip])!r}"
        if self.keep_delimiter:
            options += ", keep_delimiter=True"
        return f"until_delim({self.delimiter!r}{options})"


def until_delim(
    delim: bytes | bytearray | memoryview,
    *,
    strip: bytes | bytearray | None = None,
    keep_delimiter: bool = False,
) -> Delimited:
    """A rule for frames that end with ``delim``; the payload excludes it.

    ``delim`` is any non-empty bytes-like value; multi-byte delimiters are found even when split
    across reads, and self-overlapping ones (``b"\\0\\0"``, ``b"aba"``) end a frame at their first
    complete occurrence. ``strip`` is one byte dropped from the payload when it stands right before
    the delimiter: ``until_delim(b"\\n", strip=b"\\r")`` reads lines ended by LF or CR LF.
    ``keep_delimiter=True`` leaves the delimiter in the payload (it cannot be combined with
    ``strip``).
    """
    if isinstance(delim, str) or not isinstance(delim, (bytes, bytearray, memoryview)):
        raise TypeError(f"delim must be bytes, not {type(delim).__name__}")
    delimiter = bytes(delim)
    if not delimiter:
        raise ValueError("delim must not be empty")
    strip_byte: int | None = None
    if strip is not None:
        if isinstance(strip, str) or not isinstance(strip, (bytes, bytearray)):
            raise TypeError(f"strip must be bytes, not {type(strip).__name__}")
        if len(strip) != 1:
            raise ValueError(f"strip must be exactly one byte, got {bytes(strip)!r}")
        if keep_delimiter:
            raise ValueError("strip cannot be combined with keep_delimiter=True")
        strip_byte = strip[0]
    return Delimited(delimiter, strip=strip_byte, keep_delimiter=bool(keep_delimiter))


def until_eot(byte: int) -> Delimited:
    """A rule for frames that end with one terminator byte, given as an int 0-255 (e.g. ``0x04``).

    The payload excludes the terminator.
    """
    if isinstance(byte, bool) or not isinstance(byte, int):
        raise TypeError(f"byte must be an int 0-255, not {type(byte).__name__}")
    if not 0 <= byte <= 255:
        raise ValueError(f"byte must be in range 0-255, got {byte}")
    return Delimited(bytes((byte,)), strip=None, keep_delimiter=False, eot=True)
