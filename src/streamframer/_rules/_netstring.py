"""Netstrings (djb): ``<decimal length>:<payload>,``, as Twisted's ``NetstringReceiver`` and SCGI
send them. ``b"5:hello,"`` is ``b"hello"``; ``b"0:,"`` is the empty string.

Strict, so that a stream out of step fails at once instead of being misread: the length is ASCII
digits only (no sign, no spaces), with no leading zero except ``0`` itself, and a ``,`` must
follow the payload. Goals: the header is validated as it arrives (each byte once), the size is
reported as soon as the ``:`` is in, so an oversized frame is refused before its body, and the
body is never scanned.
"""

from __future__ import annotations

from .._args import int_arg
from .._errors import FramingError, _preview
from ._contract import FrameSpan, NeedMore, RuleResult
from ._encoding import BytesLike, payload_bytes

__all__ = ["Netstring", "netstring"]

_COLON = 0x3A
_COMMA = 0x2C
_ZERO = 0x30
# No real frame has a length of more than 20 digits (2**64 has 20); more is a stream out of step,
# refused before it fills the buffer (and before int() would refuse it for its length).
_MOST_DIGITS = 20


class Netstring:
    """The rule :func:`netstring` builds."""

    __slots__ = ("_most_digits", "max_length")

    def __init__(self, max_length: int | None) -> None:
        self.max_length = max_length
        self._most_digits = _MOST_DIGITS if max_length is None else len(str(max_length))

    def __call__(self, buffer: bytearray, scan: int) -> RuleResult:
        # A call reads at most the longest header, whatever the frame's size; the digits before
        # scan were checked by an earlier call.
        colon = buffer.find(b":", 0, self._most_digits + 1)
        digits_end = colon if colon >= 0 else min(len(buffer), self._most_digits + 1)
        new = bytes(buffer[scan:digits_end])
        if new and not new.isdigit():
            self._bad_digit(buffer, scan, new)
        if digits_end > 1 and buffer[0] == _ZERO:
            raise FramingError(
                f"netstring length with a leading zero: {_preview(bytes(buffer[:digits_end]))} "
                "(only a length of 0 may start with b'0')",
                0,
            )
        if colon < 0:
            if digits_end > self._most_digits:
                raise FramingError(
                    f"netstring length of more than {self._most_digits} digits: "
                    f"{_preview(bytes(buffer[:digits_end]))}" + self._limit_note(),
                    self._most_digits,
                )
            return NeedMore(digits_end)
        if colon == 0:
            raise FramingError(
                f"netstring without a length: b':' at offset 0: {_preview(bytes(buffer[:16]))}",
                0,
            )
        length = int(buffer[:colon])
        if self.max_length is not None and length > self.max_length:
            raise FramingError(
                f"declared length {length} exceeds max_length={self.max_length}: netstring "
                f"header {bytes(buffer[: colon + 1])!r}",
                0,
            )
        end = colon + 1 + length
        if len(buffer) <= end:
            return NeedMore(len(buffer), frame_size=end + 1)
        if buffer[end] != _COMMA:
            raise FramingError(
                f"expected b',' right after the {length} bytes of netstring "
                f"{bytes(buffer[: colon + 1])!r}, got {bytes(buffer[end : end + 1])!r} at "
                f"offset {end}",
                end,
            )
        return FrameSpan(colon + 1, end, end + 1)

    def _bad_digit(self, buffer: bytearray, scan: int, new: bytes) -> None:
        for position, byte in enumerate(new, scan):
            if not _ZERO <= byte <= _ZERO + 9:
                raise FramingError(
                    f"netstring length must be ASCII digits then b':', got {bytes((byte,))!r} "
                    f"at offset {position}: {_preview(bytes(buffer[:16]))}",
                    position,
                )

    def _limit_note(self) -> str:
        return "" if self.max_length is None else f" (max_length={self.max_length})"

    def encode(self, payload: BytesLike) -> bytes:
        """One netstring holding ``payload``: ``b"%d:" % len(payload)``, the payload, ``b","``.
        Refused (``ValueError``): a payload longer than ``max_length``."""
        data = payload_bytes(payload)
        if self.max_length is not None and len(data) > self.max_length:
            raise ValueError(
                f"{self!r} cannot encode a payload of {len(data)} bytes: more than "
                f"max_length={self.max_length}"
            )
        return b"%d:%s," % (len(data), data)

    def __repr__(self) -> str:
        options = "" if self.max_length is None else f"max_length={self.max_length}"
        return f"netstring({options})"


def netstring(*, max_length: int | None = None) -> Netstring:
    """A rule for netstrings, ``<decimal length>:<payload>,``; the payload is the bytes between
    ``:`` and ``,``.

    Anything but a strict netstring is a :class:`~streamframer.FramingError` naming the bytes
    and their offset: a non-digit before the ``:`` (signs, spaces), a leading zero (``b"05:"``),
    no digits, no ``,`` after the payload. ``max_length`` is the longest payload the protocol
    allows: a longer declared length is refused as soon as the ``:`` is in, and a length with
    more digits than ``max_length`` has as soon as those digits are (a length of over 20 digits
    always is). A frame merely too big for memory is the manager's ``max_size``:
    :class:`~streamframer.FrameTooLarge` once the ``:`` is in, before the body arrives.

    SCGI requests are a netstring of headers followed by the body: ``netstring()`` frames the
    headers, ``CONTENT_LENGTH`` says how much body follows.
    """
    if max_length is not None:
        max_length = int_arg("max_length", max_length, 0)
    return Netstring(max_length)
