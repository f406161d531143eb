"""The manager's bytearray: how much the next read asks for, how the buffer grows, and whether a
view of it is alive. Functions of a bytearray and a few sizes; nothing here knows about frames.

Goals, in order:

* Reads land in capacity the bytearray already has (``recv_into``/``readinto`` write into its
  spare bytes), so a read neither zero-fills nor resizes in the common case.
* Memory: while one large frame arrives, the buffer holds at most the frame plus about two
  reads. CPython's bytearray decides its own allocation: a resize that grows it by less than an
  eighth over-allocates another eighth, a larger one allocates exactly. So the buffer grows by
  what this read needs plus one more read while that is more than an eighth (exact), and
  otherwise by the smallest step, reading into the eighth CPython adds: amortized linear time,
  and the over-allocation is room the following reads fill, never memory on top.
* Exports are detected exactly: CPython refuses to resize a bytearray while a memoryview of it
  is alive, and says so only by refusing. Nothing here relies on reference counts.
"""

from __future__ import annotations

__all__ = [
    "MIN_READ_SIZE",
    "allocated",
    "exported",
    "extend",
    "fit",
    "next_read_size",
]

#: The smallest read worth asking for. Reads adapt to what the source delivers, so a slow
#: trickle does not zero-fill a large reservation for every few bytes.
MIN_READ_SIZE = 256
# Zeros that extend the buffer's length without allocating a temporary: two default reads,
# the most one growth step asks for unless read_size was raised.
_ZEROS_SIZE = 128 * 1024
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


def fit(buf: bytearray, at: int, size: int) -> None:
    """Make ``buf[at:at + size]`` exist, growing ``buf`` by the policy above, and lengthen it
    into what is allocated, so that the next reads land there without coming back here.
    Raises ``BufferError``, with nothing changed, when it must resize while a view is alive."""
    end = at + size
    if end <= len(buf):
        return
    held = allocated(buf)  # usable: held - 1, for the trailing NUL
    if end >= held:
        wanted = end + min(size, at)  # this read and the next (at most doubling a small buffer)
        if 8 * wanted > 9 * held:
            extend(buf, wanted)  # more than an eighth: allocated exactly
            return
        # Less: asking for one byte more than is held makes CPython add an eighth of what it
        # holds, which covers this read (wanted is within that eighth) and the next ones.
        extend(buf, held)
        held = allocated(buf)
    extend(buf, max(end, min(held - 1, len(buf) + _ZEROS_SIZE)))


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
