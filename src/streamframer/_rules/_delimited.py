"""Delimiter rules: a frame ends at a delimiter (``until_delim``) or one byte (``until_eot``).

Goal: linear time. The search resumes ``len(delimiter) - 1`` bytes before the end of what was
searched, so a delimiter split across reads is still found and no byte is examined twice more
than that. Both cores recognise :class:`Delimited` and run the same search without calling it.
"""

from __future__ import annotations

from ._contract import FrameSpan, NeedMore, RuleResult, Skip
from ._encoding import BytesLike, check_single_end, payload_bytes

__all__ = ["Delimited", "until_delim", "until_eot"]


class Delimited:
    """The rule :func:`until_delim` and :func:`until_eot` build: a frame ends at a delimiter.

    The buffer manager recognises it and runs the same search inline (no result objects), which is
    what makes the per-frame path fast; calling it follows the public contract like any rule.
    """

    __slots__ = (
        "_ending",
        "_eot",
        "_length",
        "_needle",
        "_plain",
        "delimiter",
        "keep_delimiter",
        "skip_empty",
        "strip",
    )

    def __init__(
        self,
        delimiter: bytes,
        *,
        strip: int | None,
        keep_delimiter: bool,
        skip_empty: bool = False,
        eot: bool = False,
    ) -> None:
        self.delimiter = delimiter
        self._eot = eot  # built by until_eot(): only its repr differs
        self._length = len(delimiter)
        # find() takes a one-byte needle as an int without acquiring a buffer: a little faster.
        self._needle: bytes | int = delimiter[0] if len(delimiter) == 1 else delimiter
        #: True when the payload is simply what precedes the delimiter (the common case).
        self._plain = strip is None and not keep_delimiter and not skip_empty
        self.strip = strip
        self.keep_delimiter = keep_delimiter
        self.skip_empty = skip_empty
        # What encode() appends: the strip byte too, so that a payload ending with that byte
        # survives (b"a\r" -> b"a\r\r\n"), unless it can never stand before the delimiter
        # (strip=b"\n" before b"\n" would be a delimiter itself).
        ending = delimiter
        if strip is not None and (bytes((strip,)) + delimiter).find(delimiter) == 1:
            ending = bytes((strip,)) + delimiter
        self._ending = ending

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
        if not index and self.skip_empty:
            return Skip(consume)  # an empty payload: noise, not a frame
        return FrameSpan(0, index, consume)

    def encode(self, payload: BytesLike) -> bytes:
        """One frame holding ``payload``: the payload, then the delimiter (with ``strip``, the
        strip byte and the delimiter: ``b"\\r\\n"`` for lines read with ``strip=b"\\r"``).

        With ``keep_delimiter=True`` the payload holds its delimiter, so it must end with it, and
        the frame is the payload itself. Refused (``ValueError``): a payload holding the
        delimiter anywhere else (the frame would end there), and with ``skip_empty=True`` an
        empty one (the decoder would drop it).
        """
        data = payload_bytes(payload)
        frame = data if self.keep_delimiter else data + self._ending
        check_single_end(self, frame, self.delimiter, "delimiter")
        if self.skip_empty and not data:
            raise ValueError(f"{self!r} cannot encode an empty payload: it drops empty frames")
        return frame

    def _key(self) -> tuple[bytes, int | None, bool, bool]:
        return (self.delimiter, self.strip, self.keep_delimiter, self.skip_empty)

    def __eq__(self, other: object) -> bool:
        # Equal rules frame alike, so a manager keeps its scan position when it is handed an
        # equal rule built anew (until_delim(b"\n") inside a read loop stays linear).
        if type(other) is not Delimited:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        skip_empty = ", skip_empty=True" if self.skip_empty else ""
        if self._eot:
            return f"until_eot({self.delimiter[0]:#04x}{skip_empty})"
        options = ""
        if self.strip is not None:
            options += f", strip={bytes([self.strip])!r}"
        if self.keep_delimiter:
            options += ", keep_delimiter=True"
        return f"until_delim({self.delimiter!r}{options}{skip_empty})"


def until_delim(
    delim: bytes | bytearray | memoryview,
    *,
    strip: bytes | bytearray | None = None,
    keep_delimiter: bool = False,
    skip_empty: bool = False,
) -> Delimited:
    """A rule for frames that end with ``delim``; the payload excludes it.

    ``delim`` is any non-empty bytes-like value; multi-byte delimiters are found even when split
    across reads, and self-overlapping ones (``b"\\0\\0"``, ``b"aba"``) end a frame at their first
    complete occurrence. ``strip`` is one byte dropped from the payload when it stands right before
    the delimiter: ``until_delim(b"\\n", strip=b"\\r")`` reads lines ended by LF or CR LF.
    ``keep_delimiter=True`` leaves the delimiter in the payload (it cannot be combined with
    ``strip``). ``skip_empty=True`` drops frames whose payload is empty (``strip`` applied) as
    noise: they are counted in ``BufferManager.skipped``, never returned. A payload that keeps
    its delimiter is never empty, so ``skip_empty`` cannot be combined with ``keep_delimiter``.
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
    if keep_delimiter and skip_empty:
        raise ValueError(
            "skip_empty=True cannot be combined with keep_delimiter=True: a payload that keeps "
            "its delimiter is never empty"
        )
    return Delimited(
        delimiter,
        strip=strip_byte,
        keep_delimiter=bool(keep_delimiter),
        skip_empty=bool(skip_empty),
    )


def until_eot(byte: int, *, skip_empty: bool = False) -> Delimited:
    """A rule for frames that end with one terminator byte, given as an int 0-255 (e.g. ``0x04``).

    The payload excludes the terminator. ``skip_empty=True`` drops empty frames as noise
    (counted in ``BufferManager.skipped``): SLIP senders put END (``0xC0``) before and after
    each packet, and RFC 1055 receivers drop the empty packets between them,
    ``until_eot(0xC0, skip_empty=True)``.
    """
    if isinstance(byte, bool) or not isinstance(byte, int):
        raise TypeError(f"byte must be an int 0-255, not {type(byte).__name__}")
    if not 0 <= byte <= 255:
        raise ValueError(f"byte must be in range 0-255, got {byte}")
    return Delimited(
        bytes((byte,)), strip=None, keep_delimiter=False, skip_empty=bool(skip_empty), eot=True
    )
