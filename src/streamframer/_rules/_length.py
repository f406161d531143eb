"""Rules for frames whose size is known up front: a fixed size, or a length field in a header.

Goals: a frame's size is known as soon as its header is buffered, so the rule says so
(``NeedMore(..., frame_size=total)``) and the manager refuses an oversized frame before its body
arrives. The body is never scanned: each call reads the header again (a few bytes) and answers, so
a frame arriving in n reads costs O(n) whatever its size. Everything that can be checked when the
rule is built is checked then (``ValueError``/``TypeError``); a header that cannot start a valid
frame is a :class:`~streamframer.FramingError` naming its bytes.
"""

from __future__ import annotations

import struct
from typing import Literal

from .._args import int_arg, max_length_arg
from .._errors import FramingError, _preview
from ._contract import FrameSpan, NeedMore, RuleResult
from ._encoding import BytesLike, exact_bytes, payload_bytes

__all__ = ["FixedSize", "LengthPrefixed", "fixed_size", "length_prefixed"]

# struct codes of the unsigned field widths struct reads directly.
_STRUCT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}


class FixedSize:
    """The rule :func:`fixed_size` builds: every frame is ``size`` bytes."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, buffer: bytearray, scan: int) -> RuleResult:
        size = self.size
        if len(buffer) < size:
            # Nothing to scan: every buffered byte counts as examined.
            return NeedMore(len(buffer), frame_size=size)
        return FrameSpan(0, size, size)

    def encode(self, payload: BytesLike) -> bytes:
        """One frame holding ``payload``, which must be exactly ``size`` bytes: the payload."""
        data = payload_bytes(payload)
        if len(data) != self.size:
            raise ValueError(
                f"{self!r} cannot encode a payload of {len(data)} bytes: its frames hold "
                f"exactly {self.size}"
            )
        return data

    def __repr__(self) -> str:
        return f"fixed_size({self.size})"


def fixed_size(n: int) -> FixedSize:
    """A rule for frames of exactly ``n`` bytes (``n >= 1``); the payload is the whole frame."""
    return FixedSize(int_arg("n", n, 1))


class LengthPrefixed:
    """The rule :func:`length_prefixed` builds: a header's length field gives the frame size."""

    __slots__ = (
        "_field_end",
        "_longest",
        "_min_total",
        "_unpack_from",
        "adjust",
        "byteorder",
        "length_size",
        "magic",
        "max_length",
        "offset",
        "payload_offset",
    )

    def __init__(
        self,
        length_size: int,
        offset: int,
        byteorder: Literal["big", "little"],
        adjust: int,
        payload_offset: int,
        max_length: int | None,
        magic: bytes = b"",
    ) -> None:
        self.length_size = length_size
        self.offset = offset
        self.byteorder = byteorder
        self.adjust = adjust
        self.payload_offset = payload_offset
        self.max_length = max_length
        #: The bytes that open every frame (``b""``: none).
        self.magic = magic
        self._field_end = offset + length_size
        # A frame holds at least the header the rule read and the bytes before its payload.
        self._min_total = max(self._field_end, payload_offset)
        # The rule runs once per frame and per read: the usual field widths are read in place by
        # a precompiled struct (no slice, no int.from_bytes), and a missing max_length becomes
        # the field's capacity, which no length exceeds (one comparison either way).
        code = _STRUCT_CODES.get(length_size)
        order = ">" if byteorder == "big" else "<"
        self._unpack_from = None if code is None else struct.Struct(order + code).unpack_from
        self._longest = (1 << (8 * length_size)) - 1 if max_length is None else max_length

    def __call__(self, buffer: bytearray, scan: int) -> RuleResult:
        field_end = self._field_end
        buffered = len(buffer)
        if self.magic and not buffer.startswith(self.magic):
            self._check_magic(buffer)  # raises unless the magic is still arriving
        if buffered < field_end:
            return NeedMore(buffered)
        unpack_from = self._unpack_from
        if unpack_from is not None:
            length: int = unpack_from(buffer, self.offset)[0]
        else:
            length = int.from_bytes(buffer[self.offset : field_end], self.byteorder)
        total = field_end + length + self.adjust
        if length > self._longest:
            field = buffer[self.offset : field_end]
            raise FramingError(
                f"declared length {length} exceeds max_length={self.max_length}: "
                f"length field {bytes(field)!r} at offset {self.offset}, "
                f"header {bytes(buffer[:field_end])!r}",
                self.offset,
            )
        if total < self._min_total:
            field = buffer[self.offset : field_end]
            raise FramingError(
                f"declared length {length} makes a frame of {total} bytes, fewer than the "
                f"{self._min_total} its header needs: length field {bytes(field)!r} at offset "
                f"{self.offset}, header {bytes(buffer[:field_end])!r}",
                self.offset,
            )
        if buffered < total:
            # The body is opaque: nothing to scan, and the manager learns the size now.
            return NeedMore(buffered, frame_size=total)
        return FrameSpan(self.payload_offset, total, total)

    def _check_magic(self, buffer: bytearray) -> None:
        magic = self.magic
        got = bytes(buffer[: len(magic)])
        if magic.startswith(got):
            return
        at = next(i for i, (a, b) in enumerate(zip(got, magic)) if a != b)
        raise FramingError(
            f"expected the magic {magic!r} at offset 0, got {got!r} (wrong byte at offset {at})"
            f": {_preview(bytes(buffer[:16]))}",
            at,
        )

    def encode(
        self,
        payload: BytesLike,
        *,
        header: BytesLike | None = None,
        after_length: BytesLike | None = None,
    ) -> bytes:
        """One frame holding ``payload``: ``header``, the length field, ``after_length``, then
        the payload.

        ``header`` is the frame's ``offset`` bytes before the length field (a Modbus transaction
        and protocol id), ``after_length`` its bytes between the field and the payload (the
        Modbus unit id with ``payload_offset=7``); each is required when the layout has such
        bytes, and must have exactly their size. When ``payload_offset`` makes the payload start
        earlier, the payload holds those bytes itself: ``header`` is then only the bytes before
        the payload, and the length field inside the payload must already hold the length.

        With a ``magic``, ``header`` defaults to it when it fills the header (HP ``#A``
        blocks), and must start with it otherwise (HiSLIP's ``b"HS"`` and 6 more bytes).

        Refused (``ValueError``): a payload whose length the field cannot hold or that exceeds
        ``max_length``, and a header or length field of the wrong size or value.
        """
        data = payload_bytes(payload)
        offset, field_end, payload_offset = self.offset, self._field_end, self.payload_offset
        total = payload_offset + len(data)
        length = total - field_end - self.adjust
        if total < self._min_total or not 0 <= length <= self._longest:
            raise ValueError(
                f"{self!r} cannot encode a payload of {len(data)} bytes: "
                + self._unframable(total, length)
            )
        field = length.to_bytes(self.length_size, self.byteorder)
        head_size = min(offset, payload_offset)
        if header is None and head_size <= len(self.magic):
            header = self.magic[:head_size]
        head = exact_bytes(self, "header", header, head_size, "bytes before the length field")
        magic = self.magic
        if magic and not (head + data[: len(magic)]).startswith(magic):
            raise ValueError(
                f"{self!r} cannot encode a frame that does not start with its magic {magic!r}: "
                f"{_preview(head + data)}"
            )
        if payload_offset < field_end:
            exact_bytes(self, "after_length", after_length, 0, "bytes after the length field")
            frame = head + field[: max(0, payload_offset - offset)] + data
            if frame[offset:field_end] != field:
                raise ValueError(
                    f"{self!r} cannot encode a payload of {len(data)} bytes that holds the "
                    f"length field as {frame[offset:field_end]!r}: a frame of {total} bytes "
                    f"needs the length {length} there ({field!r})"
                )
            return frame
        gap = exact_bytes(
            self,
            "after_length",
            after_length,
            payload_offset - field_end,
            "bytes between the length field and the payload",
        )
        return head + field + gap + data

    def _unframable(self, total: int, length: int) -> str:
        if total < self._min_total:
            return f"a frame of {total} bytes is shorter than its {self._min_total}-byte header"
        if length < 0:
            return f"it makes a declared length of {length} (adjust={self.adjust})"
        if self.max_length is not None:
            return f"its declared length {length} exceeds max_length={self.max_length}"
        return (
            f"its declared length {length} does not fit a {self.length_size}-byte length field "
            f"(at most {self._longest})"
        )

    def __repr__(self) -> str:
        options = f"{self.length_size}"
        if self.offset:
            options += f", offset={self.offset}"
        if self.byteorder != "big":
            options += f", byteorder={self.byteorder!r}"
        if self.adjust:
            options += f", adjust={self.adjust}"
        if self.payload_offset != self._field_end:
            options += f", payload_offset={self.payload_offset}"
        if self.max_length is not None:
            options += f", max_length={self.max_length}"
        if self.magic:
            options += f", magic={self.magic!r}"
        return f"length_prefixed({options})"


def length_prefixed(
    length_size: int,
    *,
    offset: int = 0,
    byteorder: str = "big",
    adjust: int = 0,
    payload_offset: int | None = None,
    max_length: int | None = None,
    magic: bytes | bytearray | memoryview = b"",
) -> LengthPrefixed:
    """A rule for frames whose header holds an unsigned length field.

    ::

        |<------------------------------- total -------------------------------->|
        |<-- offset -->|<- length_size ->|<--------- length + adjust ------------>|
        +--------------+-----------------+----------------------------------------+
        | other header |  length field   |  rest of the frame                     |
        +--------------+-----------------+----------------------------------------+
        |<------------- payload_offset ------------->|<-------- payload -------->|

        total = offset + length_size + length + adjust

    ``length_size`` is the field's width, 1-8 bytes; ``offset`` is where it starts; ``byteorder``
    is ``"big"`` or ``"little"``. ``adjust`` (any sign) corrects for what the length counts: ``0``
    when it counts the bytes after the field, ``-(offset + length_size)`` when it counts the whole
    frame, positive when header bytes follow the field. The payload is ``frame[payload_offset:]``;
    ``payload_offset`` defaults to ``offset + length_size`` (the bytes after the field), ``0``
    keeps the whole frame. ``max_length`` is the largest length the protocol allows: a larger one
    means the stream is corrupt or out of step, a :class:`~streamframer.FramingError`. A frame that
    is merely too big for memory is the manager's ``max_size`` business: it raises
    :class:`~streamframer.FrameTooLarge` as soon as the header is in, before the body arrives.

    A declared length that gives a frame shorter than its own header (possible with a negative
    ``adjust``) is a :class:`~streamframer.FramingError` naming the header bytes.

    ``magic`` is bytes that open every frame, inside the header before the length field (no
    longer than ``offset``): a frame starting otherwise is a
    :class:`~streamframer.FramingError` as soon as its first wrong byte is in, instead of a
    length read out of step. HP ``#A`` blocks are ``length_prefixed(2, offset=2,
    byteorder="little", magic=b"#A")``, HiSLIP ``length_prefixed(8, offset=8, magic=b"HS")``.

    Common layouts::

        Modbus TCP (MBAP)  length_prefixed(2, offset=4)
        +-------+-------+-------+------+---------------+
        | tid 2 | pid 2 | len 2 | unit | PDU           |   total = 6 + len
        +-------+-------+-------+------+---------------+   payload = unit + PDU
        (payload_offset=7 for the PDU alone; max_length=254 per the specification)

        HiSLIP             length_prefixed(8, offset=8)
        +------+------+------+-----------+------------+---------+
        | "HS" | type | ctrl | param u32 | length u64 | payload |   total = 16 + len
        +------+------+------+-----------+------------+---------+

        memcached binary   length_prefixed(4, offset=8, adjust=12, payload_offset=24)
        +-------+----+--------+--------+----+--------+------------+--------+-------+------+
        | magic | op | keylen | extlen | dt | status | body len 4 | opaque | cas 8 | body |
        +-------+----+--------+--------+----+--------+------------+--------+-------+------+
        total = 24 + body len; payload = extras + key + value

        uwsgi              length_prefixed(2, offset=1, byteorder="little", adjust=1,
                                           payload_offset=4)
        +-----------+-------------+-----------+------+
        | modifier1 | size u16 LE | modifier2 | vars |   total = 4 + size
        +-----------+-------------+-----------+------+

        plain u32 prefix   length_prefixed(4)
        +------------+---------+
        | length u32 | payload |   total = 4 + length
        +------------+---------+

    Refused when built (``ValueError``): a ``max_length`` larger than the field can hold, and any
    combination under which no length at all gives a frame at least as long as its header (a
    header longer than the largest frame, totals that are always too small or negative).
    """
    length_size = int_arg("length_size", length_size)
    if not 1 <= length_size <= 8:
        raise ValueError(f"length_size must be 1-8 bytes, got {length_size}")
    offset = int_arg("offset", offset, 0)
    if not isinstance(byteorder, str):
        raise TypeError(f"byteorder must be 'big' or 'little', not {type(byteorder).__name__}")
    if byteorder not in ("big", "little"):
        raise ValueError(f"byteorder must be 'big' or 'little', got {byteorder!r}")
    order: Literal["big", "little"] = "big" if byteorder == "big" else "little"
    adjust = int_arg("adjust", adjust)
    field_end = offset + length_size
    payload_offset = (
        field_end if payload_offset is None else int_arg("payload_offset", payload_offset, 0)
    )
    capacity = (1 << (8 * length_size)) - 1
    max_length = max_length_arg(max_length, capacity, f"{length_size}-byte length field")
    largest = capacity if max_length is None else max_length
    largest_total = field_end + largest + adjust
    min_total = max(field_end, payload_offset)
    if largest_total < min_total:
        raise ValueError(
            f"no declared length can give a valid frame: the largest ({largest}) makes "
            f"offset + length_size + length + adjust = {offset} + {length_size} + {largest} + "
            f"{adjust} = {largest_total} bytes, fewer than the {min_total}-byte header "
            f"(offset + length_size = {field_end}, payload_offset = {payload_offset})"
        )
    if isinstance(magic, str) or not isinstance(magic, (bytes, bytearray, memoryview)):
        raise TypeError(f"magic must be bytes, not {type(magic).__name__}")
    opening = bytes(magic)
    if len(opening) > offset:
        raise ValueError(
            f"magic={opening!r} ({len(opening)} bytes) does not fit before the length field at "
            f"offset={offset}"
        )
    return LengthPrefixed(length_size, offset, order, adjust, payload_offset, max_length, opening)
