"""Rules for SCPI instruments: IEEE 488.2 arbitrary blocks, and whole SCPI responses.

A definite-length block (IEEE 488.2, 8.7.9) carries binary data (waveforms, screenshots)::

    +-----+-------+----------------+----------------------+------------+
    | "#" | n 1-9 | n ASCII digits |    L data bytes      | terminator |
    |     |       |   = L          | (any values at all)  | e.g. "\\n"  |
    +-----+-------+----------------+----------------------+------------+
    |<----- header: 2 + n ------->|<----- payload ------>|

    b"#15" b"\\n\\r\\x00\\xff\\n" b"\\n"  ->  payload b"\\n\\r\\x00\\xff\\n" (5 bytes, 2 LF)

The header gives the size, so a data byte equal to the terminator never ends the frame, the rule
reports the size as soon as the header is in (the manager refuses an oversized block before its
body arrives), and the body is never scanned. The payload view is the data alone, without a copy:
``numpy.frombuffer(frame.view, ">f4")`` works.

The terminator after the data is *required* when one is given (an instrument ends every response
message with it, so a different byte there means the stream is out of step: a
:class:`~streamframer.FramingError`). It is not optional: "optional" would mean waiting for a
byte that may never come. ``terminator=None`` is for streams that send none.

Rohde & Schwarz instruments send blocks over 1 GB (more than nine digits of length) as
``#(n)``: ``b"#(5)hello\n"``, read by pyvisa's ``from_rs_block``. Both rules accept them: the
payload is the ``n`` data bytes, exactly as for a definite block.

Indefinite-length blocks (``#0``, data until NL with the END signal) cannot be framed on a byte
stream: END (EOI on GPIB, a flag in USBTMC and VXI-11 messages) does not exist on a TCP socket or a
serial line, and the data may hold the terminator byte. They are refused unless asked for.
"""

from __future__ import annotations

from .._args import bytes_arg
from .._errors import FramingError, _preview
from ._contract import FrameSpan, NeedMore, RuleResult
from ._encoding import BytesLike, check_single_end, payload_bytes

__all__ = ["IeeeBlock", "ScpiResponse", "ieee_block", "scpi_response"]

_HASH = 0x23  # b"#"
_ZERO = 0x30  # b"0"
_OPEN = 0x28  # b"(": R&S blocks, #(n)
# An R&S length of more than 20 digits (2**64 has 20) is a stream out of step.
_MOST_RS_DIGITS = 20
# "#H1F", "#Q17", "#B101": IEEE 488.2 non-decimal numeric responses, plain lines.
_NON_DECIMAL = b"HQBhqb"
_NON_DECIMAL_PREFIXES = [bytes((code,)) for code in _NON_DECIMAL]
# The most data a definite block can declare: nine length digits.
_LARGEST_BLOCK = 10**9 - 1
_INDEFINITE_MODES = ("refuse", "terminator")


class IeeeBlock:
    """The rule :func:`ieee_block` builds."""

    __slots__ = ("indefinite", "terminator")

    def __init__(self, terminator: bytes | None, indefinite: str) -> None:
        self.terminator = terminator
        self.indefinite = indefinite

    def __call__(self, buffer: bytearray, scan: int) -> RuleResult:
        if buffer and buffer[0] != _HASH:
            raise FramingError(
                f"an IEEE 488.2 block starts with b'#', got {bytes(buffer[:1])!r} at offset 0: "
                f"{_preview(bytes(buffer[:16]))}",
                0,
            )
        return _block(buffer, scan, self.terminator, self.indefinite)

    def encode(self, payload: BytesLike) -> bytes:
        """One definite-length block holding ``payload`` (any bytes): ``#``, the digit count,
        the length digits, the data, then ``terminator``. ``b"#15hello\\n"`` for ``b"hello"``.
        Beyond nine digits of length (1 GB), an R&S block: ``#(n)`` then the data.
        """
        data = payload_bytes(payload)
        return _block_header(len(data)) + data + (self.terminator or b"")

    def __repr__(self) -> str:
        options = "" if self.terminator == b"\n" else f"terminator={self.terminator!r}"
        if self.indefinite != "refuse":
            options += f"{', ' if options else ''}indefinite={self.indefinite!r}"
        return f"ieee_block({options})"


def ieee_block(terminator: bytes | None = b"\n", *, indefinite: str = "refuse") -> IeeeBlock:
    """A rule for one IEEE 488.2 definite-length block: ``#``, a digit n (1-9), n ASCII digits
    giving the data length L, L data bytes, then ``terminator``.

    The payload is the L data bytes (any values, the terminator's included), a zero-copy view.
    Rohde & Schwarz ``#(L)`` headers (blocks over 1 GB) are read the same way.
    ``terminator`` (default ``b"\\n"``, the SCPI response terminator) must follow the data;
    ``None`` means nothing follows it. A malformed header (no ``#``, a non-digit count or length)
    or a wrong byte where the terminator belongs is a :class:`~streamframer.FramingError` naming
    the bytes and their offset.

    ``indefinite`` says what to do with an indefinite-length block (``#0``):

    ``"refuse"`` (default)
        A :class:`~streamframer.FramingError`: its end cannot be known on a byte stream (see the
        module notes). Ask the instrument for definite blocks instead.
    ``"terminator"``
        The block ends at the first ``terminator`` after ``#0``; the payload is the bytes in
        between. Right only when the data can never contain the terminator (ASCII data).

    There is no "until the end of the stream" mode: a rule never sees the end of the stream. To
    take an indefinite block that the instrument ends by closing the connection, read until
    :class:`~streamframer.StreamClosed` and use its ``partial`` bytes after the ``#0``.
    """
    term = None if terminator is None else bytes_arg("terminator", terminator)
    mode = _indefinite_mode(indefinite)
    if mode == "terminator" and term is None:
        raise ValueError("indefinite='terminator' needs a terminator, got terminator=None")
    return IeeeBlock(term, mode)


class ScpiResponse:
    """The rule :func:`scpi_response` builds."""

    __slots__ = ("indefinite", "terminator")

    def __init__(self, terminator: bytes, indefinite: str) -> None:
        self.terminator = terminator
        self.indefinite = indefinite

    def __call__(self, buffer: bytearray, scan: int) -> RuleResult:
        if not buffer:
            return NeedMore(0)
        if buffer[0] == _HASH:
            if len(buffer) < 2:
                return NeedMore(0)  # "#" alone: a block or a "#H..." line, the next byte tells
            if buffer[1] not in _NON_DECIMAL:
                return _block(buffer, scan, self.terminator, self.indefinite)
        terminator = self.terminator
        index = buffer.find(terminator, scan)
        if index < 0:
            return NeedMore(max(scan, len(buffer) - len(terminator) + 1))
        return FrameSpan(0, index, index + len(terminator))

    def encode(self, payload: BytesLike) -> bytes:
        """One response line holding ``payload``: the payload, then ``terminator``.

        Refused (``ValueError``): a payload holding the terminator, and one starting with ``#``
        that would be read as a block (only ``#H``, ``#Q`` and ``#B`` lines are lines). Blocks
        are encoded by ``ieee_block(terminator).encode``.
        """
        data = payload_bytes(payload)
        if data[:1] == b"#" and data[1:2] not in _NON_DECIMAL_PREFIXES:
            raise ValueError(
                f"{self!r} cannot encode the line {_preview(data)}: a response starting with "
                f"{data[:2]!r} is read as a block (encode blocks with ieee_block().encode)"
            )
        frame = data + self.terminator
        check_single_end(self, frame, self.terminator, "terminator")
        return frame

    def __repr__(self) -> str:
        options = "" if self.terminator == b"\n" else f"terminator={self.terminator!r}"
        if self.indefinite != "refuse":
            options += f"{', ' if options else ''}indefinite={self.indefinite!r}"
        return f"scpi_response({options})"


def scpi_response(terminator: bytes = b"\n", *, indefinite: str = "refuse") -> ScpiResponse:
    """A rule for SCPI responses: a definite-length block when the first byte is ``#``, otherwise
    a line ending with ``terminator``.

    The first byte decides, so a block full of newlines is never misread as lines (which trying
    a line rule and then a block rule one after the other would do). A block is read exactly as
    by :func:`ieee_block` with the same ``terminator`` and ``indefinite``: the payload is its data.
    A line's payload is the bytes before the terminator, nothing stripped: for instruments that
    end lines with CR LF, pass ``terminator=b"\\r\\n"`` (it then also follows blocks, as those
    instruments send it). Responses ``#H...``, ``#Q...`` and ``#B...`` (hexadecimal, octal and
    binary numbers) are lines.

    A response that puts anything before a block (a command header such as ``:CURV #42000...``
    when the instrument echoes headers) is read as a line and breaks at the first newline in the
    data: switch headers off on the instrument (``:HEADER OFF`` or equivalent).
    """
    term = bytes_arg("terminator", terminator)
    return ScpiResponse(term, _indefinite_mode(indefinite))


def _indefinite_mode(indefinite: object) -> str:
    if not isinstance(indefinite, str):
        raise TypeError(f"indefinite must be a str, not {type(indefinite).__name__}")
    if indefinite not in _INDEFINITE_MODES:
        raise ValueError(f"indefinite must be 'refuse' or 'terminator', got {indefinite!r}")
    return indefinite


def _block_header(length: int) -> bytes:
    """The header of a definite block of ``length`` data bytes: ``#``, the digit count and the
    digits, or R&S's ``#(length)`` beyond nine digits."""
    if length > _LARGEST_BLOCK:
        return b"#(%d)" % length
    digits = b"%d" % length
    return b"#%d" % len(digits) + digits


def _rs_data_start(buffer: bytearray) -> int:
    """Where the data of the R&S block ``#(n)`` at the start of ``buffer`` begins, or -1 while
    its header is incomplete. A call reads at most the longest header (bounded work)."""
    end = min(len(buffer), 3 + _MOST_RS_DIGITS)  # the ")" is at 2 + _MOST_RS_DIGITS at most
    close = buffer.find(b")", 2, end)
    digits = bytes(buffer[2 : close if close >= 0 else end])
    _check_digits(buffer, digits, "length digits then b')' from offset 2")
    if close < 0:
        if len(digits) > _MOST_RS_DIGITS:
            raise FramingError(
                f"malformed R&S block header: more than {_MOST_RS_DIGITS} length digits: "
                f"{_preview(bytes(buffer[:32]))}",
                2 + _MOST_RS_DIGITS,
            )
        return -1
    if close == 2:
        raise FramingError(
            f"malformed R&S block header: no length digits in {bytes(buffer[:3])!r}", 2
        )
    return close + 1


def _check_digits(buffer: bytearray, digits: bytes, expected: str) -> None:
    """Refuse a block header whose length ``digits`` (from offset 2) hold a non-digit."""
    # The rule runs on every read of a block: the byte loop only runs to name a bad digit (or
    # when none is buffered yet).
    for position, byte in enumerate(b"" if digits.isdigit() else digits, 2):
        if not _ZERO <= byte <= _ZERO + 9:
            kind = "R&S" if buffer[1] == _OPEN else "IEEE 488.2"
            raise FramingError(
                f"malformed {kind} block header: expected {expected}, got "
                f"{bytes((byte,))!r} at offset {position}: {_preview(bytes(buffer[:16]))}",
                position,
            )


def _block(buffer: bytearray, scan: int, terminator: bytes | None, indefinite: str) -> RuleResult:
    """Frame the block at the start of ``buffer``, whose first byte is ``#``."""
    buffered = len(buffer)
    if buffered < 2:
        return NeedMore(buffered)
    count = buffer[1] - _ZERO
    if count == 0:
        if indefinite == "refuse" or terminator is None:
            raise FramingError(
                "indefinite-length block b'#0' refused: its end is marked only by the END "
                "signal of GPIB, USBTMC or VXI-11, which a byte stream does not carry; ask the "
                "instrument for a definite-length block, or use "
                "ieee_block(indefinite='terminator') if the data never holds the terminator: "
                f"{_preview(bytes(buffer[:16]))}",
                1,
            )
        index = buffer.find(terminator, max(scan, 2))
        if index < 0:
            return NeedMore(max(scan, 2, buffered - len(terminator) + 1))
        return FrameSpan(2, index, index + len(terminator))
    if count == _OPEN - _ZERO:
        data_start = _rs_data_start(buffer)
        if data_start < 0:
            return NeedMore(buffered)
        digits = bytes(buffer[2 : data_start - 1])
    else:
        if not 1 <= count <= 9:
            raise FramingError(
                "malformed IEEE 488.2 block header: expected the digit count b'0'-b'9' or "
                f"b'(' at offset 1, got {bytes(buffer[1:2])!r}: {_preview(bytes(buffer[:16]))}",
                1,
            )
        data_start = 2 + count
        digits = bytes(buffer[2:data_start])
        _check_digits(buffer, digits, f"{count} length digits from offset 2")
        if buffered < data_start:
            return NeedMore(buffered)
    length = int(digits)
    data_end = data_start + length
    total = data_end
    if terminator is not None:
        total += len(terminator)
        after = bytes(buffer[data_end:total]) if buffered > data_end else b""
        if not terminator.startswith(after):
            raise FramingError(
                f"expected the terminator {terminator!r} right after the {length} data bytes "
                f"of block {bytes(buffer[:data_start])!r}, got {after!r} at offset {data_end}",
                data_end,
            )
    if buffered < total:
        # The data is opaque: nothing to scan, and the manager learns the size now.
        return NeedMore(buffered, frame_size=total)
    return FrameSpan(data_start, data_end, total)
