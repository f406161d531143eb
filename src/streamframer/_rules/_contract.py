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

Encoding (optional): a rule may also offer ``rule.encode(payload, **options) -> bytes``, the
bytes of one frame that the same rule decodes back to exactly ``payload``, however they are split
into reads. A payload it cannot frame (a delimiter inside, a length its field cannot hold) is a
``ValueError`` saying why; bytes of the frame that are neither length nor payload (a header, a
trailer) are keyword arguments, refused when missing or of the wrong size. Every built-in rule
has one; adapters that send (``Framed.send``) use it.

A custom rule, for a 2-byte big-endian length header::

    def u16_prefixed(buffer, scan):
        if len(buffer) < 2:
            return NeedMore(0)
        size = 2 + int.from_bytes(buffer[:2], "big")
        if len(buffer) < size:
            return NeedMore(0, frame_size=size)
        return FrameSpan(2, size, size)

    def encode(payload):
        if len(payload) > 0xFFFF:
            raise ValueError(f"a payload of {len(payload)} bytes does not fit a 2-byte length")
        return len(payload).to_bytes(2, "big") + payload

    u16_prefixed.encode = encode
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Union

__all__ = ["FrameSpan", "NeedMore", "Rule", "RuleResult", "Skip", "broken_condition"]


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


def broken_condition(result: RuleResult, buffered: int) -> str:
    """The condition of the contract that ``result`` breaks for a buffer of ``buffered`` bytes,
    for the manager's error message: ``"consume 99 > 3 buffered bytes"``."""
    if isinstance(result, FrameSpan):
        start, end, consume = result
        if start < 0:
            return f"start {start} < 0"
        if end < start:
            return f"end {end} < start {start}"
        if consume < end:
            return f"consume {consume} < end {end}"
        if consume > buffered:
            return f"consume {consume} > {buffered} buffered bytes"
        return f"consume must be positive, got {consume}"
    if isinstance(result, NeedMore):
        if result.resume < 0:
            return f"resume {result.resume} < 0"
        return f"resume {result.resume} > {buffered} buffered bytes"
    if result.nbytes <= 0:
        return f"nbytes must be positive, got {result.nbytes}"
    return f"nbytes {result.nbytes} > {buffered} buffered bytes"
