"""Rules with several markers: any of several delimiters, and start/stop markers.

Both follow the rule contract of :mod:`streamframer._rules` and keep no state: where to resume
lives in the ``scan`` the manager stores. Goals, in order:

* The frames found never depend on how the stream was split into reads. A delimiter that may
  still grow into a longer or earlier one (``b"\\r"`` when ``b"\\r\\n"`` is also a delimiter) is
  not acted on until the next byte settles it.
* Linear time: each call examines the bytes from ``scan`` on plus a look-back shorter than the
  longest marker, so a frame arriving one byte at a time costs O(its length) in total (a DoS
  guard). The one exception is spelled out in :func:`between`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Callable, Union

from .._args import bytes_arg, int_arg
from .._errors import _preview
from ._contract import FrameSpan, NeedMore, RuleResult, Skip
from ._encoding import BytesLike, check_single_end, exact_bytes, payload_bytes

__all__ = ["Between", "Trailer", "UntilAny", "between", "until_any"]

#: ``Between.encode``'s ``trailer``: its bytes, or a function of the frame before it.
Trailer = Union[BytesLike, Callable[[bytes], BytesLike]]


class UntilAny:
    """The rule :func:`until_any` builds: a frame ends at the first of several delimiters."""

    __slots__ = (
        "_longest",
        "_pattern",
        "delimiters",
        "encode_delimiter",
        "keep_delimiter",
        "skip_empty",
    )

    def __init__(
        self,
        delimiters: tuple[bytes, ...],
        encode_delimiter: bytes,
        keep_delimiter: bool,
        skip_empty: bool,
    ) -> None:
        #: The delimiters, longest first (the order in which a tie at one position is settled).
        self.delimiters = delimiters
        #: The delimiter :meth:`encode` ends frames with: the first one the caller listed.
        self.encode_delimiter = encode_delimiter
        self.keep_delimiter = keep_delimiter
        self.skip_empty = skip_empty
        self._longest = len(delimiters[0])
        # Alternatives are tried left to right at each position, and the leftmost position wins:
        # longest first gives "earliest start, then longest", in one C-level pass that stops at
        # the first match (no per-delimiter find() running to the end of a long buffer).
        self._pattern = re.compile(b"|".join(re.escape(d) for d in delimiters))

    def __call__(self, buffer: bytearray, scan: int) -> RuleResult:
        size = len(buffer)
        # Only the last len(longest) - 1 bytes can hold a delimiter that is still incomplete.
        tail = size - self._longest + 1
        match = self._pattern.search(buffer, scan)
        if match is None:
            return NeedMore(max(scan, tail))
        start = match.start()
        # A delimiter starting at or before the match but running past the buffer's end may
        # still complete, and then it wins (earlier start, or longer at the same start).
        for position in range(max(scan, tail), start + 1):
            pending = buffer[position:]
            for delimiter in self.delimiters:
                if len(delimiter) <= len(pending):
                    break  # longest first: the rest cannot run past the end either
                if delimiter.startswith(pending):
                    return NeedMore(position)
        end = match.end()
        if self.keep_delimiter:
            return FrameSpan(0, end, end)
        if not start and self.skip_empty:
            return Skip(end)  # an empty payload: noise, not a frame
        return FrameSpan(0, start, end)

    def encode(self, payload: BytesLike) -> bytes:
        """One frame holding ``payload``: the payload, then the first delimiter listed when the
        rule was built (``until_any((b"\\r\\n", b"\\n"))`` sends CR LF). With
        ``keep_delimiter=True`` the payload holds its delimiter, and the frame is the payload.

        Refused (``ValueError``): a payload holding a delimiter before its end (the frame would
        end there); a frame whose end the decoder could not settle without the next frame's
        first byte (a payload ending in ``b"\\r"`` sent with ``b"\\n"``, or ``b"\\r"`` sent when
        ``b"\\r\\n"`` is also a delimiter); and with ``skip_empty=True`` an empty payload.
        """
        data = payload_bytes(payload)
        frame = data if self.keep_delimiter else data + self.encode_delimiter
        result = self(bytearray(frame), 0)
        if result == FrameSpan(0, len(frame) if self.keep_delimiter else len(data), len(frame)):
            return frame
        if type(result) is Skip:
            raise ValueError(f"{self!r} cannot encode an empty payload: it drops empty frames")
        found = self._pattern.search(frame)
        if found is None:
            raise ValueError(
                f"{self!r} cannot encode {_preview(frame)}: a frame must end with one of its "
                "delimiters"
            )
        if type(result) is FrameSpan:
            raise ValueError(
                f"{self!r} cannot encode a payload holding the delimiter {found.group()!r}: it "
                f"would end the frame at offset {found.start()} of {_preview(frame)}"
            )
        raise ValueError(
            f"{self!r} cannot encode {_preview(data)}: the bytes from offset {result[0]} of "
            f"{_preview(frame)} may begin a longer delimiter, so the frame would not end before "
            "the next byte"
        )

    def __repr__(self) -> str:
        # The encoding delimiter first, so that the repr builds an equal rule.
        rest = tuple(d for d in self.delimiters if d != self.encode_delimiter)
        options = ", keep_delimiter=True" if self.keep_delimiter else ""
        options += ", skip_empty=True" if self.skip_empty else ""
        return f"until_any({(self.encode_delimiter, *rest)!r}{options})"


def until_any(
    delims: Iterable[bytes], *, keep_delimiter: bool = False, skip_empty: bool = False
) -> UntilAny:
    """A rule for frames that end with any of several delimiters; the payload excludes it
    unless ``keep_delimiter=True`` (then it ends with the delimiter that ended it, so that the
    caller knows which one, like asyncio's ``readuntil((b"\\n", b"\\r"))``).

    ``delims`` is a collection of non-empty bytes, e.g. ``(b"\\r\\n", b"\\n", b"\\r")`` for lines
    ended by CR LF, LF or CR. The frame ends at the delimiter that *starts* first; of several
    that start at the same byte, the longest wins, so ``b"a\\r\\nb\\n"`` gives ``b"a"`` then
    ``b"b"``, not an empty line. The result never depends on how the bytes were split into reads.

    That has one visible consequence: with ``b"\\r"`` and ``b"\\r\\n"`` both delimiters, a buffer
    ending in ``b"\\r"`` holds no frame yet, because the next byte may be ``b"\\n"``. A device that
    ends its last line with a bare CR and then falls silent leaves that line unread until more
    bytes come; at the end of the stream the manager raises :class:`~streamframer.StreamClosed`
    with the line (CR included) in ``partial``. For the same reason a frame ending in such a CR
    exactly at ``max_size`` (``b"abc\\r"`` under ``max_size=4``) is refused with
    :class:`~streamframer.FrameTooLarge` when the reads stop right after the CR: the byte that
    settles it would be one beyond the limit.

    ``skip_empty=True`` drops frames whose payload is empty as noise, counted in
    ``BufferManager.skipped``: ``until_any((b"\\r\\n", b"\\n", b"\\r"), skip_empty=True)`` reads
    lines and ignores blank ones. It cannot be combined with ``keep_delimiter`` (a payload that
    keeps its delimiter is never empty).
    """
    if isinstance(delims, (bytes, bytearray, memoryview, str)):
        raise TypeError(
            "delims must be a collection of bytes such as (b'\\r\\n', b'\\n'), "
            f"not a single {type(delims).__name__}"
        )
    try:
        items = list(delims)
    except TypeError:
        raise TypeError(
            f"delims must be a collection of bytes, not {type(delims).__name__}"
        ) from None
    given = [bytes_arg("each delimiter", item) for item in items]
    if not given:
        raise ValueError("delims must hold at least one delimiter")
    if keep_delimiter and skip_empty:
        raise ValueError(
            "skip_empty=True cannot be combined with keep_delimiter=True: a payload that keeps "
            "its delimiter is never empty"
        )
    # Longest first, then bytewise, so that the repr (and the pattern) is deterministic.
    delimiters = tuple(sorted(set(given), key=lambda d: (-len(d), d)))
    return UntilAny(delimiters, given[0], bool(keep_delimiter), bool(skip_empty))


class Between:
    """The rule :func:`between` builds: a frame is a start marker, a body, a stop marker and an
    optional fixed trailer; bytes before the start marker are skipped."""

    __slots__ = ("keep_markers", "start", "stop", "trailer")

    def __init__(self, start: bytes, stop: bytes, trailer: int, keep_markers: bool) -> None:
        self.start = start
        self.stop = stop
        self.trailer = trailer
        self.keep_markers = keep_markers

    def __call__(self, buffer: bytearray, scan: int) -> RuleResult:
        start, stop = self.start, self.stop
        if not buffer.startswith(start):
            # Noise: drop everything before the start marker, or all but the bytes that may
            # be the beginning of one. The manager calls again with the marker at 0.
            begin = buffer.find(start, scan)
            if begin < 0:
                keep = len(start) - 1
                if len(buffer) > keep:
                    return Skip(len(buffer) - keep)
                return NeedMore(0)
            if begin:
                return Skip(begin)
        body = max(scan, len(start))
        index = buffer.find(stop, body)
        if index < 0:
            return NeedMore(max(body, len(buffer) - len(stop) + 1))
        consume = index + len(stop) + self.trailer
        if consume > len(buffer):
            return NeedMore(index, frame_size=consume)
        if self.keep_markers:
            return FrameSpan(0, consume, consume)
        return FrameSpan(len(start), index, consume)

    def encode(self, payload: BytesLike, *, trailer: Trailer | None = None) -> bytes:
        """One frame holding ``payload``: the start marker, the payload, the stop marker, then
        the trailer.

        ``trailer`` is required when the rule has one: its bytes, or a function computing them
        from the frame before them (markers included, so that it can cover what its protocol
        says), e.g. a BCC, the XOR of the bytes after STX::

            rule.encode(b"data", trailer=lambda frame: bytes([functools.reduce(
                operator.xor, frame[1:], 0)]))

        With ``keep_markers=True`` the payload is the whole frame, trailer included, and is
        checked rather than wrapped. Refused (``ValueError``): a payload holding the stop marker
        (the frame would end there), and a trailer of the wrong size.
        """
        data = payload_bytes(payload)
        start, stop = self.start, self.stop
        if self.keep_markers:
            if trailer is not None:
                raise ValueError(
                    f"{self!r} takes the trailer inside the payload (keep_markers=True), "
                    f"got trailer={trailer!r}"
                )
            if not data.startswith(start):
                raise ValueError(
                    f"{self!r} cannot encode {_preview(data)}: with keep_markers=True the "
                    f"payload is the whole frame, and must start with {start!r}"
                )
            body_end = max(0, len(data) - self.trailer)
            check_single_end(self, data[:body_end], stop, "stop marker", len(start))
            return data
        body = start + data + stop
        check_single_end(self, body, stop, "stop marker", len(start))
        if callable(trailer):
            trailer = trailer(body)
        meaning = f"bytes after the stop marker {stop!r}"
        return body + exact_bytes(self, "trailer", trailer, self.trailer, meaning)

    def __repr__(self) -> str:
        options = ""
        if self.trailer:
            options += f", trailer={self.trailer}"
        if self.keep_markers:
            options += ", keep_markers=True"
        return f"between({self.start!r}, {self.stop!r}{options})"


def between(start: bytes, stop: bytes, *, trailer: int = 0, keep_markers: bool = False) -> Between:
    """A rule for frames framed by a start and a stop marker, then ``trailer`` more bytes.

    For example ``between(b"\\x02", b"\\x03", trailer=1)`` reads STX ... ETX followed by a
    one-byte BCC (many serial instruments); ASTM E1381 frames (STX ... ETX, two checksum digits,
    CR LF) are ``between(b"\\x02", b"\\x03", trailer=4)``.

    * The frame begins at the first start marker. Bytes before it are *skipped* (the stream is
      resynchronised after noise or a frame cut in half): the rule answers
      :class:`~streamframer.Skip`, and the manager drops them and counts them in
      ``BufferManager.skipped``.
    * The body ends at the first stop marker after the start marker; a start marker inside the
      body is data. There is no escaping: a body containing the stop marker cannot be framed
      this way.
    * The payload is the body, without markers and trailer; ``keep_markers=True`` makes it the
      whole frame (start marker, body, stop marker, trailer) so that a checksum can be verified.

    Cost: linear in the bytes received, noise included.
    """
    start_marker = bytes_arg("start", start)
    stop_marker = bytes_arg("stop", stop)
    trailer = int_arg("trailer", trailer, 0)
    return Between(start_marker, stop_marker, trailer, bool(keep_markers))
