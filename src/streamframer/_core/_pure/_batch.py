"""The batch path: every complete frame buffered now, as ``bytes`` copies, in one call.

Taking small frames one by one costs a Python-level rule call, a Frame and a consume() each. For
a plain delimiter the batch path instead makes one ``find`` (the guard that keeps a frame
arriving over many reads linear: nothing is split until its delimiter is there), one copy and
one C-level ``split`` for all of them. Other rules go frame by frame. Errors keep their order:
frames found before the trouble are returned first, and the error comes on the next call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._errors import FrameTooLarge
from ..._rules import Delimited
from ._limits import need_more

if TYPE_CHECKING:
    from ..._rules import Rule
    from ._buffer import BufferManager

__all__ = ["drain"]

# From this frame size on, copying each payload out of the buffer (with one find per frame) beats
# copying the whole region once more for split().
_BIG_FRAME = 4096


def drain(mgr: BufferManager, rule: Rule) -> list[bytes]:
    """``BufferManager.drain``: every complete frame buffered now, as copies, all consumed."""
    if mgr._pending is not None:
        raise mgr._outstanding()
    if type(rule) is Delimited and rule._plain:
        split = _split(mgr, rule)
        if split is not None:
            return split
    payloads = []
    try:
        while (frame := mgr.next_frame(rule)) is not None:
            payloads.append(frame.tobytes())
            frame.consume()
    except FrameTooLarge as exc:
        if not payloads:
            raise
        # Raised once, on the next call, after the frames that came before it.
        mgr._deferred = exc
        mgr._rule = None
    except Exception:
        if not payloads:
            raise
        # Nothing was consumed for the failing frame, so the next call meets it again.
    return payloads


def _split(mgr: BufferManager, rule: Delimited) -> list[bytes] | None:
    """``drain`` for a plain delimiter, in C: one ``find``, one copy, one ``split``.

    Returns ``None`` when the frame-by-frame path must decide (an oversized frame).
    """
    if rule is not mgr._rule:
        return None  # a new rule or an overflow: next_frame sorts that out
    buf = mgr._buf
    tail = mgr._tail
    delimiter = rule.delimiter
    first = buf.find(delimiter, mgr._scan, tail)
    if first < 0:
        # The guard that keeps a frame arriving in many reads linear: nothing is split
        # (nor rescanned) until its delimiter is there.
        mgr._scan = max(mgr._head, tail - len(delimiter) + 1)
        last = need_more(mgr, None)  # raises at the limit; the tail at EOF with on_eof="frame"
        if last is None:
            return []
        with last:
            return [last.tobytes()]
    if first - mgr._head >= _BIG_FRAME:
        return _copy_each(mgr, delimiter, first)
    # split() parses left to right like repeated find(), so self-overlapping delimiters
    # (b"aba") end frames exactly where next_frame would.
    payloads = memoryview(buf)[mgr._head : tail].tobytes().split(delimiter)
    leftover = len(payloads.pop())
    if max(map(len, payloads)) + len(delimiter) > mgr._limit:
        return None
    mgr._head = tail - leftover
    mgr._scan = max(mgr._head, tail - len(delimiter) + 1)
    return payloads


def _copy_each(mgr: BufferManager, delimiter: bytes, index: int) -> list[bytes] | None:
    """``_split`` for big frames: each payload copied once, straight from the buffer (``split``
    copies everything twice: the region, then each piece), found by ``find`` in a loop whose
    per-frame cost is small next to the copy. ``index`` is where the first delimiter starts.
    Stops before a frame over the limit, so that the frames before it are returned first."""
    buf = mgr._buf
    tail = mgr._tail
    start = mgr._head
    payloads = []
    with memoryview(buf) as view:
        while index >= 0:
            end = index + len(delimiter)
            if end - start > mgr._limit:
                break
            payloads.append(view[start:index].tobytes())
            start = end
            index = buf.find(delimiter, start, tail)
    if not payloads:
        return None
    mgr._head = start
    mgr._scan = max(start, tail - len(delimiter) + 1)
    return payloads
