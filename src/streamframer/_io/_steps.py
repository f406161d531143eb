"""The steps of ``async for`` shared by the asyncio and anyio adapters: the frame a step gave
is consumed when the next step starts (unless the loop body did), and a batch is the first
frame copied plus every complete frame behind it (``BufferManager.drain``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._core import BufferManager, Frame
    from .._rules import Rule

__all__ = ["batch_from", "release"]


def release(frame: Frame | None) -> None:
    """Consume ``frame``, the one the previous step gave, unless the loop body did."""
    if frame is not None:
        frame.__exit__(None, None, None)  # consume() unless consumed, in one call


def batch_from(frame: Frame, mgr: BufferManager, rule: Rule) -> list[bytes]:
    """``frame``'s payload and every complete frame buffered behind it, copied and consumed;
    an error ``drain`` meets is the next step's to raise."""
    batch = [frame.tobytes()]
    frame.consume()
    batch += mgr.drain(rule)
    return batch
