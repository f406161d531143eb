"""The batch path: every complete frame buffered now, as ``bytes`` copies, in one call.

Taking small frames one by one costs a Python-level rule call, a Frame and a consume() each. For
a plain delimiter the batch path instead makes one ``find`` (the guard that keeps a frame
arriving over many reads linear: nothing is split until its delimiter is there), one copy and
one C-level ``split`` for all of them. Other rules go frame by frame. Errors keep their order:
frames found before the trouble are returned first, and the error comes on the next call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import FrameTooLarge
from ._limits import need_more
from ._rules import Delimited

if TYPE_CHECKING:
    from ._buffer import BufferManager
    from ._rules import Rule

__all__ = ["drain"]


def drain(mgr: BufferManager, rule: Rule) -> list[bytes]:
    """``BufferManager.drain``: every complete frame buffered now, as copies, all consumed."""
    if mgr._pending is not None:
        raise mgr._outstanding()
    if type(rule) is Delimited and rule.strip is None and not rule.keep_delimiter:
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
    delimiter = rule.delimiter
    if buf.find(delimiter, mgr._scan) < 0:
        # The guard that keeps a frame arriving in many reads linear: nothing is split
        # (nor rescanned) until its delimiter is there.
        mgr._scan = max(mgr._head, len(buf) - len(delimiter) + 1)
        last = need_more(mgr, None)  # raises at the limit; the tail at EOF with on_eof="frame"
        if last is None:
            return []
        with last:
            return [last.tobytes()]
    # split() parses left to right like repeated find(), so self-overlapping delimiters
    # (b"aba") end frames exactly where next_frame would.
    payloads = memoryview(buf)[mgr._head :].tobytes().split(delimiter)
    leftover = len(payloads.pop())
    if max(map(len, payloads)) + len(delimiter) > mgr._limit:
        return None
    mgr._head = len(buf) - leftover
    mgr._scan = max(mgr._head, len(buf) - len(delimiter) + 1)
    return payloads
