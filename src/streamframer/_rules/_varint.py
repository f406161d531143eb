"""Frames whose length is a varint: protobuf's length-delimited streams, MQTT's remaining length.

::

    |<--------------------------------- total ---------------------------------->|
    |<-- offset -->|<- 1..max_bytes ->|<------------ length + adjust ------------->|
    +--------------+------------------+--------------------------------------------+
    | other header |  varint length   |  rest of the frame                         |
    +--------------+------------------+--------------------------------------------+
                                      |<------- payload (by default) -------------->|

    total = offset + varint size + length + adjust

The varint is unsigned LEB128: 7 bits a byte, the least significant group first, the high bit
set on every byte but the last (300 is ``b"\\xac\\x02"``). Goals as for ``length_prefixed``: the
size is known once the varint is in, so the rule reports it (an oversized frame is refused
before its body arrives), and the body is never scanned: a call reads at most ``offset +
max_bytes`` bytes, so a frame arriving in n reads costs O(n) whatever its size.
"""

from __future__ import annotations

from .._args import int_arg, max_length_arg
from .._errors import FramingError, _preview
from ._contract import FrameSpan, NeedMore, RuleResult
from ._encoding import BytesLike, exact_bytes, payload_bytes

__all__ = ["VarintPrefixed", "varint_prefixed"]

_MORE = 0x80  # the high bit: another byte of the varint follows


class VarintPrefixed:
    """The rule :func:`varint_prefixed` builds."""

    __slots__ = ("adjust", "max_bytes", "max_length", "offset", "payload_offset")

    def __init__(
        self,
        offset: int,
        max_bytes: int,
        adjust: int,
        payload_offset: int | None,
        max_length: int | None,
    ) -> None:
        self.offset = offset
        self.max_bytes = max_bytes
        self.adjust = adjust
        #: Where the payload starts in the frame; ``None``: right after the varint.
        self.payload_offset = payload_offset
        self.max_length = max_length

    def __call__(self, buffer: bytearray, scan: int) -> RuleResult:
        buffered = len(buffer)
        offset = self.offset
        position = offset
        last = offset + self.max_bytes  # the varint ends before this
        length = shift = 0
        while True:
            if position >= buffered:
                return NeedMore(buffered)
            byte = buffer[position]
            length |= (byte & 0x7F) << shift
            position += 1
            if byte < _MORE:
                break
            if position == last:
                raise FramingError(
                    f"varint length at offset {offset} runs past max_bytes={self.max_bytes}: "
                    f"{bytes(buffer[offset:last])!r}, header {_preview(bytes(buffer[:last]))}",
                    offset,
                )
            shift += 7
        if self.max_length is not None and length > self.max_length:
            raise FramingError(
                f"declared length {length} exceeds max_length={self.max_length}: varint "
                f"{bytes(buffer[offset:position])!r} at offset {offset}",
                offset,
            )
        total = position + length + self.adjust
        start = position if self.payload_offset is None else self.payload_offset
        if total < position or total < start:
            raise FramingError(
                f"declared length {length} makes a frame of {total} bytes, fewer than the "
                f"{max(position, start)} its header needs: varint "
                f"{bytes(buffer[offset:position])!r} at offset {offset}",
                offset,
            )
        if buffered < total:
            return NeedMore(buffered, frame_size=total)
        return FrameSpan(start, total, total)

    def encode(
        self,
        payload: BytesLike,
        *,
        header: BytesLike | None = None,
        after_length: BytesLike | None = None,
    ) -> bytes:
        """One frame holding ``payload``: ``header``, the varint, then the payload.

        ``header`` is the frame's ``offset`` bytes before the varint (MQTT's fixed header byte),
        required when there are any. The varint is in its shortest form. With a
        ``payload_offset`` past the varint, ``after_length`` is the frame's bytes between the
        varint and the payload, and the varint fills the rest (padded with continuation bytes
        when its shortest form is shorter). With one at or before the varint, the payload holds
        the varint, which must already give the payload's size.

        Refused (``ValueError``): a length that is negative (``adjust``), exceeds ``max_length``
        or does not fit ``max_bytes``; a missing or wrong-size ``header`` or ``after_length``.
        """
        data = payload_bytes(payload)
        offset, payload_offset = self.offset, self.payload_offset
        if payload_offset is not None and payload_offset <= offset:
            exact_bytes(self, "after_length", after_length, 0, "bytes after the varint")
            head = exact_bytes(self, "header", header, payload_offset, "bytes before the payload")
            return self._holding_the_varint(head + data, payload_offset)
        head = exact_bytes(self, "header", header, offset, "bytes before the varint")
        if payload_offset is None:
            exact_bytes(self, "after_length", after_length, 0, "bytes after the varint")
            gap, size = b"", None
        else:
            gap = exact_bytes(self, "after_length", after_length, None, "")
            size = payload_offset - offset - len(gap)
            if not 1 <= size <= self.max_bytes:
                raise ValueError(
                    f"{self!r} leaves {size} bytes for the varint between the header and "
                    f"after_length={gap!r}: it takes 1 to max_bytes={self.max_bytes}"
                )
        length = len(data) - self.adjust + (0 if size is None else len(gap))
        return head + self._varint(length, size, len(data)) + gap + data

    def _varint(self, length: int, size: int | None, payload_size: int) -> bytes:
        """``length`` as a varint, shortest or padded to ``size`` bytes, refused (``ValueError``)
        when no varint the rule accepts holds it."""
        why = ""
        if length < 0:
            why = f"it makes a declared length of {length} (adjust={self.adjust})"
        elif self.max_length is not None and length > self.max_length:
            why = f"its declared length {length} exceeds max_length={self.max_length}"
        else:
            encoded = encode_varint(length, size or 1)
            if len(encoded) <= (size or self.max_bytes):
                return encoded
            why = f"its declared length {length} needs a {len(encoded)}-byte varint"
            why += f", more than {size or self.max_bytes}"
        raise ValueError(f"{self!r} cannot encode a payload of {payload_size} bytes: {why}")

    def _holding_the_varint(self, frame: bytes, start: int) -> bytes:
        """``frame`` if it decodes to one frame whose payload starts at ``start``; refused
        otherwise (a payload that holds the varint must hold the right one)."""
        try:
            result: object = self(bytearray(frame), 0)
        except FramingError as exc:
            result = exc
        if result != FrameSpan(start, len(frame), len(frame)):
            raise ValueError(
                f"{self!r} cannot encode a payload of {len(frame) - start} bytes that holds the "
                f"varint: the frame must be exactly one, and {_preview(frame)} reads as "
                f"{result!r}"
            )
        return frame

    def __repr__(self) -> str:
        options = []
        if self.offset:
            options.append(f"offset={self.offset}")
        if self.max_bytes != 10:
            options.append(f"max_bytes={self.max_bytes}")
        if self.adjust:
            options.append(f"adjust={self.adjust}")
        if self.payload_offset is not None:
            options.append(f"payload_offset={self.payload_offset}")
        if self.max_length is not None:
            options.append(f"max_length={self.max_length}")
        return f"varint_prefixed({', '.join(options)})"


def encode_varint(value: int, size: int = 1) -> bytes:
    """``value`` (at least 0) as an unsigned LEB128 varint of at least ``size`` bytes: the
    shortest form, padded with continuation bytes (``0x80``) up to ``size``."""
    out = bytearray()
    while True:
        group = value & 0x7F
        value >>= 7
        if not value and len(out) + 1 >= size:
            out.append(group)
            return bytes(out)
        out.append(group | _MORE)


def varint_prefixed(
    *,
    offset: int = 0,
    max_bytes: int = 10,
    adjust: int = 0,
    payload_offset: int | None = None,
    max_length: int | None = None,
) -> VarintPrefixed:
    """A rule for frames whose header holds an unsigned LEB128 varint length.

    The varint starts at ``offset`` and takes 1 to ``max_bytes`` bytes (1-10; 10 holds any
    64-bit length); ``total = offset + varint size + length + adjust``. The payload is the
    bytes after the varint, or ``frame[payload_offset:]`` (``0`` keeps the whole frame).

    * protobuf length-delimited messages (``writeDelimitedTo``, Netty's
      ``ProtobufVarint32FrameDecoder``): ``varint_prefixed(max_bytes=5)``
    * MQTT, whose remaining length follows one byte of packet type and flags:
      ``varint_prefixed(offset=1, max_bytes=4)``, or ``payload_offset=0`` to keep the fixed
      header and read the packet type

    A varint still unfinished after ``max_bytes`` bytes, a length over ``max_length`` (the
    protocol's own limit), or one that makes a frame shorter than its header is a
    :class:`~streamframer.FramingError` naming the bytes. The size is reported as soon as the
    varint is in, so the manager's ``max_size`` refuses an oversized frame before its body.
    Refused when built (``ValueError``): ``max_bytes`` outside 1-10, a ``max_length`` that
    ``max_bytes`` cannot hold, and layouts under which no length gives a valid frame.
    """
    offset = int_arg("offset", offset, 0)
    max_bytes = int_arg("max_bytes", max_bytes)
    if not 1 <= max_bytes <= 10:
        raise ValueError(f"max_bytes must be 1-10, got {max_bytes}")
    adjust = int_arg("adjust", adjust)
    if payload_offset is not None:
        payload_offset = int_arg("payload_offset", payload_offset, 0)
    capacity = (1 << (7 * max_bytes)) - 1
    max_length = max_length_arg(max_length, capacity, f"{max_bytes}-byte varint")
    largest = capacity if max_length is None else max_length
    field_end = offset + len(encode_varint(largest))
    largest_total = field_end + largest + adjust
    header = max(field_end, payload_offset or 0)
    if largest_total < header:
        raise ValueError(
            f"no declared length can give a valid frame: the largest ({largest}) makes "
            f"offset + varint size + length + adjust = {offset} + {field_end - offset} + "
            f"{largest} + {adjust} = {largest_total} bytes, fewer than the {header}-byte header"
        )
    return VarintPrefixed(offset, max_bytes, adjust, payload_offset, max_length)
