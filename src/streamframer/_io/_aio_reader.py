"""The task-facing side of an asyncio framed connection: :class:`FramedReader`.

Three ways to take frames, fastest last:

* ``await reader.read_frame()``: one frame, consumed by the caller; one coroutine per call.
* ``async for frame in reader``: each frame consumed when the loop asks for the next. A frame
  already buffered costs no coroutine and no future: the iteration is one async generator per
  ``async for`` (with the compiled core, an awaitable that hands the frame over in C), and it
  only awaits when the buffer holds no complete frame.
* ``async for batch in reader.batches()``: every complete frame buffered, at once, as a list of
  payloads (copied and consumed, ``BufferManager.drain``); one step of the loop per read rather
  than per frame.

All three keep the connection's guarantees: a cancelled wait loses nothing (the bytes live in the
manager), reading pauses while ``read_ahead`` bytes wait unread and resumes as the task catches
up, and bytes go from the loop straight into the manager (``FramedProtocol``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING, Any

from .._core import compiled_loop
from .._errors import FrameLifecycleError, StreamClosed
from ._checks import rule_arg
from ._steps import batch_from, release, waited

if TYPE_CHECKING:
    from .._core import BufferManager, Frame
    from .._rules import Rule
    from ._aio_protocol import FramedProtocol

__all__ = ["FramedReader"]


class FramedReader:
    """Frames from a :class:`FramedProtocol`: ``await read_frame()``, ``async for frame in
    reader``, or ``async for batch in reader.batches()``.

    ``rule`` is the default rule (settable; ``read_frame(rule)`` overrides it for one frame, for
    protocols that switch framing, such as a length-prefixed block after a text header).
    """

    __slots__ = ("_protocol", "_yielded", "rule")

    def __init__(self, protocol: FramedProtocol, rule: Rule) -> None:
        rule_arg(rule)
        self._protocol = protocol
        self._yielded: Frame | None = None
        self.rule = rule

    @property
    def manager(self) -> BufferManager:
        """The connection's :class:`BufferManager` (its limits, policies and buffered bytes)."""
        protocol = self._protocol
        if protocol._reserved:
            protocol._settle()
        return protocol._mgr

    def read_frame(self, rule: Rule | None = None) -> Coroutine[Any, Any, Frame]:
        """Wait for the next complete frame (``await reader.read_frame()``); the caller
        consumes it.

        Returns a buffered frame at once. Raises :class:`StreamClosed` at the end of the stream
        (with ``.partial`` if it ended inside a frame), :class:`FrameTooLarge` when the frame
        cannot fit in ``max_size``, the connection's error if it was lost with one, and
        :class:`FrameLifecycleError` while the previous frame is outstanding. Cancelling it (a
        timeout) loses nothing: the next call carries on with every byte received.
        """
        return _read(self, self.rule if rule is None else rule)

    def reset_input_buffer(self) -> int:
        """Drop every byte received and not yet framed; return how many (pyserial's name).

        The loop reads bytes as they arrive, so this is what the connection has received up to
        the loop's last pass; a late reply still on its way comes after it. The next
        ``writer.query()`` after one timed out does this itself.
        """
        mgr = self.manager
        dropped = len(mgr)
        mgr.clear()
        self._protocol.owed = False
        self._protocol._resume()  # read on, if a full buffer had paused reading
        return dropped

    def __aiter__(self) -> AsyncIterator[Frame]:
        """``async for frame in reader``: each frame is consumed when the loop asks for the
        next one (unless the body did). Ends cleanly when the peer closes between frames; a
        close inside a frame raises :class:`StreamClosed`. A frame kept past its step is gone:
        copy it first. Leaving the loop early leaves the last frame to the next read, which
        consumes it if the body did not."""
        protocol = self._protocol
        return _frames(self, protocol._mgr, protocol)

    async def __anext__(self) -> Frame:
        """One step of ``async for`` (``anext(reader)``), as a coroutine."""
        self._consume_yielded()
        return await _wait_step(self)

    async def batches(self) -> AsyncIterator[list[bytes]]:
        """``async for batch in reader.batches()``: each complete frame buffered, at once, as
        a list of payloads (``bytes``, copied and consumed); at least one per batch, waiting
        for it as ``read_frame()`` does. Ends cleanly when the peer closes between frames. The
        fastest way to take many small frames: one step of the loop per read."""
        mgr = self._protocol._mgr
        async for frame in self:
            yield batch_from(frame, mgr, self.rule)

    def _consume_yielded(self) -> None:
        previous, self._yielded = self._yielded, None
        release(previous)

    def __repr__(self) -> str:
        return f"<FramedReader rule={self.rule!r} {self._protocol._mgr!r}>"


async def _wait_step(reader: FramedReader) -> Frame:
    """A step of ``async for`` that waits for its frame (the compiled steps'): the frame, set
    as the reader's last, or StopAsyncIteration at the end."""
    frame = reader._yielded = await waited(_read(reader, reader.rule))
    return frame


@compiled_loop(3, _wait_step)
async def _frames(
    reader: FramedReader, mgr: BufferManager, protocol: FramedProtocol
) -> AsyncIterator[Frame]:
    """``async for frame in reader``: a buffered frame is taken here, without a coroutine or a
    future; only a step that finds no complete frame awaits :func:`_read`. The step is kept to
    the fewest operations: it is the per-frame cost of every asyncio server written this way.
    With a manager of the compiled core, the same steps run in C, each waiting one through
    :func:`_wait_step`."""
    next_frame = mgr.next_frame
    reader._consume_yielded()  # the last frame of a loop left early
    frame: Frame | None
    while True:
        try:
            if protocol._reserved:
                frame = await _read(reader, reader.rule)
            else:
                if protocol._paused and len(mgr) <= protocol._read_ahead // 2:
                    protocol._resume()  # the task caught up: read on before it runs dry
                frame = next_frame(reader.rule)
                if frame is None:
                    frame = await _read(reader, reader.rule)
        except StreamClosed as exc:
            if exc.partial:
                raise
            return
        reader._yielded = frame  # for a loop left early: the next read consumes it
        yield frame
        frame.__exit__(None, None, None)  # consumes it, unless the body did: one call


async def _read(reader: FramedReader, rule: Rule) -> Frame:
    """The next frame, waiting for bytes as long as it takes: ``read_frame()``, and the steps
    of ``async for`` that find no complete frame buffered. The only coroutine a waiting
    connection holds (thousands of idle connections each keep one)."""
    protocol = reader._protocol
    mgr = protocol._mgr
    while True:
        if protocol._reserved:
            protocol._settle()
        if protocol._paused and len(mgr) <= protocol._read_ahead // 2:
            protocol._resume()  # the task caught up: read on before it runs dry
        frame = mgr.next_frame(rule)
        if frame is not None:
            return frame
        if protocol._exception is not None:
            raise protocol._exception
        protocol._resume()
        if not len(mgr):
            # Idle connections, thousands of them, hold no spare capacity (an economy: a
            # view the task holds only postpones it).
            with contextlib.suppress(FrameLifecycleError):
                mgr.shrink()
        if protocol._waiter is not None:
            raise RuntimeError("read_frame() called while another task is waiting for a frame")
        waiter = protocol._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            protocol._waiter = None
