"""The batch path's C-level work: every frame a plain delimiter ends, as ``bytes`` copies.

Taking small frames one by one costs a Python-level rule call, a Frame and a consume() each. For
a plain delimiter ``BufferManager.drain`` instead makes one ``find`` (the guard that keeps a
frame arriving over many reads linear: nothing is split until its delimiter is there), one copy
and one C-level ``split`` for all of them. Functions of a bytearray and positions; the manager
keeps its own state.
"""

from __future__ import annotations

__all__ = ["split_frames"]

# From this frame size on, copying each payload out of the buffer (with one find per frame) beats
# copying the whole region once more for split().
_BIG_FRAME = 4096


def split_frames(
    buf: bytearray, start: int, end: int, scan: int, delimiter: bytes, limit: int
) -> tuple[list[bytes], int] | None:
    """The payloads of every frame in ``buf[start:end]`` ended by ``delimiter`` (none is before
    ``scan``), and where the bytes after them begin. ``None`` if the first frame exceeds
    ``limit`` bytes, or if any does when ``split`` took them all at once: the caller then takes
    them one by one, so that the frames before the oversized one come out first."""
    first = buf.find(delimiter, scan, end)
    if first < 0:
        return [], start
    if first - start >= _BIG_FRAME:
        return _copy_each(buf, start, end, first, delimiter, limit)
    # split() parses left to right like repeated find(), so self-overlapping delimiters
    # (b"aba") end frames exactly where next_frame would.
    payloads = memoryview(buf)[start:end].tobytes().split(delimiter)
    leftover = len(payloads.pop())
    if max(map(len, payloads)) + len(delimiter) > limit:
        return None
    return payloads, end - leftover


def _copy_each(
    buf: bytearray, start: int, end: int, index: int, delimiter: bytes, limit: int
) -> tuple[list[bytes], int] | None:
    """``split_frames`` for big frames: each payload copied once, straight from the buffer
    (``split`` copies everything twice: the region, then each piece), found by ``find`` in a
    loop whose per-frame cost is small next to the copy. ``index`` is where the first delimiter
    starts. Stops before a frame over the limit."""
    payloads = []
    with memoryview(buf) as view:
        while index >= 0:
            after = index + len(delimiter)
            if after - start > limit:
                break
            payloads.append(view[start:index].tobytes())
            start = after
            index = buf.find(delimiter, start, end)
    if not payloads:
        return None
    return payloads, start
