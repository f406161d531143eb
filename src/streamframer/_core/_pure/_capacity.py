"""The manager's bytearray: how much the next read asks for, how the buffer grows, and whether a
view of it is alive. Functions of a bytearray and a few sizes; nothing here knows about frames.

Goals, in order:

* Reads land in capacity the bytearray already has (``recv_into``/``readinto`` write into its
  spare bytes), so a read neither zero-fills nor resizes in the common case.
* Memory: while a large frame arrives, the buffer holds the frame plus about two reads, and
  grows with the bytes received (a header declaring a huge frame commits nothing by itself).
  CPython's bytearray decides its own allocation: a resize growing it by less than an eighth
  over-allocates another eighth, a larger one allocates exactly. So the buffer grows by what
  this read needs plus one more read while that is more than an eighth (exact); to the end of
  a frame whose header gave its size in one step, once that end is within an eighth; and
  otherwise by the smallest step, the eighth CPython adds being room the next reads fill.
  Amortized linear time either way.
* Exports are detected exactly: CPython refuses to resize a bytearray while a memoryview of it
  is alive, and says so only by refusing. Nothing here relies on reference counts.
"""

from __future__ import annotations

import sys

__all__ = [
    "AHEAD",
    "MIN_READ_SIZE",
    "MOST_BYTES",
    "allocated",
    "exported",
    "extend",
    "fit",
    "next_read_size",
]

#: The smallest read worth asking for. Reads adapt to what the source delivers, so a slow
#: trickle does not zero-fill a large reservation for every few bytes.
MIN_READ_SIZE = 256
# How far ahead of a read the buffer is lengthened where CPython already allocated the bytes.
AHEAD = 128 * 1024
#: The most bytes one reservation may ask for: far beyond any allocation (a larger size is a
#: ValueError, the same on both cores, rather than whatever the allocator says).
MOST_BYTES = sys.maxsize // 8
# Zeros the buffer is lengthened from, so that growing it allocates no temporary: up to an
# eighth of the default max_size, the largest step of an exact growth. Never written, so its
# pages cost no memory.
_ZEROS_SIZE = 2 * 1024 * 1024
_ZEROS = memoryview(bytes(_ZEROS_SIZE))


def next_read_size(got: int, asked: int, most: int) -> int:
    """The size of the next read, after one that brought ``got`` of ``asked`` bytes. A full read
    suggests more is waiting: twice as much. A short one shows what the source delivers: about
    that. At least ``MIN_READ_SIZE``, at most ``most`` (the manager's read_size)."""
    wanted = 2 * got if got == asked else got
    if wanted < MIN_READ_SIZE:
        wanted = MIN_READ_SIZE
    return most if wanted > most else wanted  # read_size wins, even below the minimum


def allocated(buf: bytearray) -> int:
    """The bytes CPython allocated for ``buf`` (its length, a spare eighth, a trailing NUL).

    ``bytearray.__sizeof__`` is the object's fixed part plus exactly that allocation. Only the
    growth policy uses it; where it means something else (another Python) the policy just
    grows more often.
    """
    return bytearray.__sizeof__(buf) - type(buf).__basicsize__


def extend(buf: bytearray, size: int) -> None:
    """Lengthen ``buf`` to ``size`` bytes with zeros (a view of it alive: ``BufferError``)."""
    missing = size - len(buf)
    buf += _ZEROS[:missing] if missing <= _ZEROS_SIZE else bytes(missing)


def fit(buf: bytearray, at: int, size: int, ahead: int, frame_end: int) -> int:
    """Make room for a read of ``size`` bytes at ``at``, growing ``buf`` by the policy above,
    and lengthen it up to ``ahead`` bytes further where CPython already allocated them, so
    that the next reads land there without coming back here. Returns the size to read.

    ``frame_end`` is where the frame being received ends, when its header said (else 0): the
    buffer then grows to it exactly when it is within reach, and a read that would need more
    than is allocated stops at the allocation once the frame ends within it.

    Raises ``BufferError``, with nothing changed, when it must resize while a view is alive.
    """
    end = at + size
    if end <= len(buf):
        return size
    held = allocated(buf)  # usable: held - 1, for the trailing NUL
    if end >= held:
        if at < frame_end < held:
            extend(buf, held - 1)  # the frame fits: read up to the allocation, not beyond
            return held - 1 - at
        wanted = end + min(size, at)  # this read and the next (at most doubling)
        if at < frame_end <= wanted + (wanted >> 3):
            # The frame ends within an eighth of that: grow to its end now, in one exact
            # step, rather than by a last step small enough for CPython to over-allocate.
            wanted = max(end, frame_end)
        if 8 * wanted > 9 * held:
            extend(buf, wanted)  # more than an eighth: allocated exactly
            return size
        # Less: asking for one byte more than is held makes CPython add an eighth of what it
        # holds, which covers this read (wanted is within that eighth) and the next ones.
        extend(buf, held)
        held = allocated(buf)
    extend(buf, max(end, min(held - 1, end + ahead)))
    return size


def exported(buf: bytearray) -> bool:
    """Whether a memoryview of ``buf`` is alive somewhere. CPython only tells by refusing to
    resize it, so shrink it by one byte and put the byte back (``del`` checks before it changes
    anything, unlike ``pop``). The contents never change; the allocation almost never does."""
    if not buf:
        try:
            buf.append(0)
        except BufferError:
            return True
        del buf[:]
        return False
    last = buf[-1]
    try:
        del buf[-1:]
    except BufferError:
        return True
    buf.append(last)
    return False
