"""anyio: frames from any anyio byte stream, and payloads back out, on asyncio or trio.

Import it explicitly (``import streamframer.anyio``; the ``anyio`` extra installs anyio)::

    import anyio
    from streamframer import scpi_response
    from streamframer.anyio import FramedStream

    async def main():
        stream = await anyio.connect_tcp("127.0.0.1", 5025)
        async with FramedStream(stream, scpi_response()) as scope:
            print(await scope.query(b"*IDN?", timeout=2))

    anyio.run(main)  # asyncio; with trio installed, anyio.run(main, backend="trio")

:class:`FramedStream` takes any ``ByteReceiveStream`` (a ``ByteStream`` to send as well): TCP
and TLS streams, Unix sockets, a process's output, ``BufferedByteReceiveStream``. What holds:

* Cancellation loses nothing: the bytes received live in the manager, and the only wait is the
  stream's ``receive()``, which takes no bytes when cancelled. A cancel scope expiring in the
  middle of a frame leaves its first part buffered; the next read returns the whole frame.
* The end of the stream (``EndOfStream``) raises :class:`~streamframer.StreamClosed` once the
  buffered frames are taken, with ``.partial`` holding an unfinished frame, as everywhere else.
* One copy per read: anyio streams hand out ``bytes``, which are fed into the manager.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import ByteReceiveStream

from ._core import BufferManager, compiled_loop
from ._errors import StreamClosed
from ._io._checks import encoder_arg, rule_arg, timeout_arg
from ._io._hints import no_reply
from ._io._steps import batch_from, release, waited
from ._io._writes import encode_with

if TYPE_CHECKING:
    from ._core import Frame
    from ._io._writes import Encoder
    from ._rules import Rule

__all__ = ["FramedStream"]


class FramedStream:
    """Frames from an anyio byte ``stream`` through ``rule``; payloads sent back encoded by it.

    ``await read_frame()`` returns the next frame and leaves consuming it to you; ``async for
    frame in framed`` consumes each frame when it asks for the next and ends quietly when the
    stream ends between frames; ``await send(payload)`` writes one frame (``encoder.encode``,
    the rule's own without an ``encoder``); ``await query(payload, timeout=None)`` sends and
    returns the reply's payload; ``reset_input_buffer()`` drops what is buffered. ``manager``
    defaults to a new ``BufferManager()``; ``stream``, ``rule``, ``encoder`` and ``manager``
    are attributes (``rule`` may change between frames). ``async with`` closes the stream.
    """

    __slots__ = ("_owed", "_yielded", "encoder", "manager", "rule", "stream")

    def __init__(
        self,
        stream: ByteReceiveStream,
        rule: Rule,
        *,
        manager: BufferManager | None = None,
        encoder: Encoder | None = None,
    ) -> None:
        if not isinstance(stream, ByteReceiveStream):
            raise TypeError(
                f"stream must be an anyio ByteReceiveStream, not {type(stream).__name__}"
            )
        rule_arg(rule)
        encoder_arg(encoder)
        if manager is not None and not isinstance(manager, BufferManager):
            raise TypeError(f"manager must be a BufferManager, not {type(manager).__name__}")
        #: The anyio stream frames are read from (and sent to, when it can send).
        self.stream = stream
        #: The rule that frames what arrives (and encodes what is sent, without an encoder).
        self.rule = rule
        #: What encodes what is sent (``encoder.encode``); ``None``: the rule does.
        self.encoder = encoder
        #: The stream's :class:`BufferManager`: its limits, policies and buffered bytes.
        self.manager = BufferManager() if manager is None else manager
        self._yielded: Frame | None = None
        self._owed = False  # a query timed out: its reply may still come

    async def read_frame(self, rule: Rule | None = None) -> Frame:
        """Wait for the next frame and return it; consuming it is yours (``with frame:``).

        ``rule`` frames this one frame instead of :attr:`rule`. Raises
        :class:`~streamframer.StreamClosed` at the end of the stream,
        :class:`~streamframer.FrameTooLarge` when the frame cannot fit in ``max_size``, and
        :class:`~streamframer.FrameLifecycleError` while the previous frame is outstanding.
        Cancelling it (``anyio.fail_after``, ``move_on_after``) loses nothing. After an
        ``async for`` left early, its last frame is yours: dropped unconsumed, it is read again.
        """
        self._yielded = None  # the loop's hold: a frame the caller dropped goes back
        rule = self.rule if rule is None else rule
        mgr = self.manager
        while True:
            frame = mgr.next_frame(rule)
            if frame is not None:
                return frame
            try:
                data = await self.stream.receive(mgr.read_size)
            except anyio.EndOfStream:
                mgr.feed_eof()
            else:
                mgr.feed(data)

    def __aiter__(self) -> AsyncIterator[Frame]:
        return _steps(self, self.manager, None)

    async def __anext__(self) -> Frame:
        """The next frame, after consuming the one the previous step gave (unless the loop
        body did). A frame kept past its step is gone: copy it first. (A class, not an async
        generator: trio warns of a generator left unfinished by ``break``.)"""
        self._consume_yielded()
        try:
            frame = self.manager.next_frame(self.rule)  # buffered: no second coroutine
            if frame is None:
                frame = await self.read_frame()
        except StreamClosed as exc:
            if exc.partial:
                raise
            raise StopAsyncIteration from None
        self._yielded = frame
        return frame

    def batches(self) -> AsyncIterator[list[bytes]]:
        """``async for batch in framed.batches()``: every complete frame buffered, at once, as
        a list of payloads (``bytes``, copied and consumed); at least one per batch, waiting
        for it as :meth:`read_frame` does. Ends cleanly when the peer closes between frames;
        cancelling it loses nothing. The fastest way to take many small frames."""
        return _Batches(self)

    def _consume_yielded(self) -> None:
        previous, self._yielded = self._yielded, None
        release(previous)

    async def send(self, payload: object, **encode_kw: Any) -> None:
        """Send ``payload`` as one frame (``encoder.encode(payload, **encode_kw)``, the rule's
        own without an encoder). A payload it cannot frame is its ``ValueError``, and nothing
        is sent."""
        await self._send(self._encode(payload, encode_kw))

    def _encode(self, payload: object, encode_kw: dict[str, Any]) -> bytes:
        encoder = self.encoder
        return encode_with(self.rule if encoder is None else encoder, payload, encode_kw)

    async def _send(self, data: bytes) -> None:
        send = getattr(self.stream, "send", None)
        if send is None:
            raise TypeError(f"{type(self.stream).__name__} only receives: it has no send()")
        await send(data)

    async def query(self, payload: object, timeout: float | None = None, **encode_kw: Any) -> bytes:
        """Send ``payload`` (as :meth:`send`), then return the next frame's payload, copied and
        consumed.

        ``timeout`` bounds the wait for the reply, not the send (a send cut short would leave
        half a frame on the wire): ``TimeoutError`` on expiry, saying how long, what is
        buffered and, when nothing came back, the line ending sent; nothing is lost. A reply
        that comes after that is not the next query's answer: the next ``query()`` first drops
        what is buffered (:meth:`reset_input_buffer`). A cancel scope around the call works the
        same way, without the message.
        """
        timeout = timeout_arg(timeout)
        wire = self._encode(payload, encode_kw)
        if self._owed:
            self.reset_input_buffer()
        await self._send(wire)
        try:
            with anyio.fail_after(timeout):
                # Copied and consumed inside the scope: no frame is left outstanding by a
                # deadline that expires as it arrives.
                with await self.read_frame() as frame:
                    return frame.tobytes()
        except TimeoutError:
            self._owed = True
            raise TimeoutError(no_reply(timeout, len(self.manager), payload, wire)) from None

    def reset_input_buffer(self) -> int:
        """Drop every byte buffered and not yet framed; return how many (pyserial's name).

        An anyio stream is read only when asked (``receive()``), so bytes it has not handed
        over yet come with the next read: after a timed-out query, a reply still on its way
        is not seen here. The next ``query()`` after one timed out does this itself.
        """
        mgr = self.manager
        dropped = len(mgr)
        mgr.clear()
        self._owed = False
        return dropped

    async def aclose(self) -> None:
        """Close the stream. Buffered bytes stay readable in :attr:`manager`."""
        await self.stream.aclose()

    async def __aenter__(self) -> FramedStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"<FramedStream {self.rule!r} on {self.stream!r}, {len(self.manager)} bytes buffered>"
        )


class _Batches:
    """:meth:`FramedStream.batches`: one coroutine per batch, however many frames it holds."""

    __slots__ = ("_framed",)

    def __init__(self, framed: FramedStream) -> None:
        self._framed = framed

    def __aiter__(self) -> _Batches:
        return self

    async def __anext__(self) -> list[bytes]:
        framed = self._framed
        return batch_from(await framed.__anext__(), framed.manager, framed.rule)


async def _wait_step(stream: FramedStream) -> Frame:
    """A step of the compiled ``async for`` that waits for its frame: the frame, set as the
    stream's last, or StopAsyncIteration at the end (what ``__anext__`` does when nothing is
    buffered)."""
    frame = stream._yielded = await waited(stream.read_frame())
    return frame


@compiled_loop(3, _wait_step)
def _steps(stream: FramedStream, mgr: BufferManager, protocol: None) -> AsyncIterator[Frame]:
    """``async for frame in stream``: the stream is its own iterator (``__anext__``); with a
    manager of the compiled core the same steps run in C, a buffered frame with no coroutine."""
    return stream
