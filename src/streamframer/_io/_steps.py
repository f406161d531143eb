"""The steps of ``async for`` shared by the asyncio and anyio adapters: the frame a step gave
is consumed when the next step starts (unless the loop body did), a step that waits ends the
loop quietly when the stream ended between frames, and a batch is the first frame copied plus
every complete frame behind it (``BufferManager.drain``)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from .._errors import StreamClosed

if TYPE_CHECKING:
    from .._core import BufferManager, Frame
    from .._rules import Rule

__all__ = ["batch_from", "release", "waited"]


def release(frame: Frame | None) -> None:
    """Consume ``frame``, the one the previous step gave, unless the loop body did."""
    if frame is not None:
        frame.__exit__(None, None, None)  # consume() unless consumed, in one call


async def waited(reading: Awaitable[Frame]) -> Frame:
    """The frame ``reading`` waits for, or StopAsyncIteration (the loop's quiet end) when the
    stream ended between frames; an end inside a frame raises :class:`StreamClosed`."""
    try:
        return await reading
    except StreamClosed as exc:
        if exc.partial:
            raise
        raise StopAsyncIteration from None


def batch_from(frame: Frame, mgr: BufferManager, rule: Rule) -> list[bytes]:
    """``frame``'s payload and every complete frame buffered behind it, copied and consumed;
    an error ``drain`` meets is the next step's to raise."""
    batch = [frame.tobytes()]
    frame.consume()
    batch += mgr.drain(rule)
    return batch
