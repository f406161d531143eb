"""Reads: the zero-copy ways bytes come in, ``reserve()``/``commit()`` and ``_fill()``.

The second layer of :class:`~streamframer.BufferManager` (``Storage`` <- ``Reads`` <- ``Limits``
<- ``BufferManager``). A read lands in the spare capacity after the unconsumed bytes, so it runs
once per ``recv_into`` and does almost nothing in the common case: no compaction, resize or
zero-filling. The rest (no room, a long consumed prefix, the limit near, capacity to give
back) goes through :meth:`Reads._make_room`.

A read is refused, if it must be, before it takes anything from the source: what a source
delivered is always kept.
"""

from __future__ import annotations

import contextlib
from operator import index
from typing import Callable

from ..._errors import FrameLifecycleError
from ._capacity import AHEAD, MOST_BYTES, fit, next_read_size
from ._lending import BUSY, CONCURRENT, EXPORTED, RESERVED
from ._storage import SLACK, Storage, unpinned

__all__ = ["Reads"]


class Reads(Storage):
    """The zero-copy reads of a :class:`~streamframer.BufferManager`."""

    __slots__ = ()

    def reserve(self, size: int | None = None) -> memoryview:
        """Spare capacity at the end of the buffer, for a zero-copy read (``recv_into``,
        ``readinto``, ``asyncio.BufferedProtocol.get_buffer``).

        Write up to ``len(view)`` bytes into the returned view, then call ``commit(nbytes)``
        (also with ``0`` when the read failed). Only the bytes written are yours to commit: the
        view starts out holding whatever the buffer's spare capacity held (it is not cleared,
        so that a reservation costs no memory it does not use). ``size`` defaults to an
        adaptive read size, and is capped so that the buffer never holds more than
        ``max_size`` bytes. Refused while a frame
        is outstanding (bytes arriving then go through ``feed()``, and wait behind it).
        """
        state = self._enter()
        try:
            if self._eof:
                raise FrameLifecycleError("reserve() after feed_eof(): the stream has ended")
            if state is not None:
                raise self._lent(state)
            adaptive = size is None
            if size is None:
                size = self._next_read
            elif (size := index(size)) < 1:
                raise ValueError(f"reserve() needs a positive size or None, got {size}")
            elif size > MOST_BYTES:
                raise ValueError(
                    f"reserve() needs a size of at most {MOST_BYTES} bytes (no buffer holds "
                    f"more), got {size}"
                )
            if self._backlog is not None:
                self._flush()
            size = self._make_room(size, shorter=adaptive)
            at = self._tail
            view = self._reserved = memoryview(self._buf)[at : at + size]
            self._reserved_size = size
            state = RESERVED
            return view
        finally:
            self._pending = state

    def commit(self, nbytes: int, /) -> None:
        """Keep the first ``nbytes`` written into the view ``reserve()`` returned.

        Nothing may be written into that view afterwards. It may still be held (an event
        loop that releases the buffer ``get_buffer()`` gave it only after ``buffer_updated()``
        returns, as uvloop does, or a slice the caller kept): the bytes are kept all the same,
        and until it is released it pins the buffer as a :meth:`view` does.
        """
        view = self._reserved
        if self._pending is not RESERVED or view is None:
            if self._pending is BUSY:
                raise FrameLifecycleError(CONCURRENT)
            raise FrameLifecycleError("commit() without reserve()")
        self._pending = BUSY  # nbytes.__index__ may call back into the manager
        try:
            nbytes = index(nbytes)
        finally:
            self._pending = RESERVED
        if not 0 <= nbytes <= self._reserved_size:
            raise ValueError(f"commit({nbytes}) outside the {self._reserved_size} reserved bytes")
        with contextlib.suppress(BufferError):  # still held: it pins the buffer until released
            view.release()
        self._reserved = None
        self._tail += nbytes
        self._next_read = next_read_size(nbytes, self._reserved_size, self._max_read)
        self._give_back_after_a_short_read(nbytes)
        self._pending = None
        if self._backlog is not None:
            self._settle_backlog()

    def _fill(self, read_into: Callable[[memoryview], int | None], /) -> int | None:
        """One read straight into the buffer: the I/O adapters' way in, once per read.

        Reserves spare capacity (the adaptive read size, capped by ``max_size``), calls
        ``read_into(view)`` once, keeps the count it returns, and gives the view back. It
        returns what ``read_into`` returned: a count of bytes written at the start of the view,
        ``0`` (the adapter decides whether that is the end of the stream: ``_fill`` does not
        record it), or ``None`` (nothing to read now). An exception from ``read_into``
        propagates with nothing kept from that call.

        Raises :class:`FrameLifecycleError` before calling ``read_into`` when the buffer cannot
        take a read: a frame or a reservation is outstanding, the stream has ended, the buffer
        holds ``max_size`` bytes, or a view of it is alive and the read needs the buffer to move
        or grow. A view alive does not stop a read into capacity the buffer already has, and
        whatever ``read_into`` delivered is kept even if it kept an export of the view.
        """
        state = self._pending  # _enter() inline: once per read
        if state is not None:
            self._refuse(state)
        self._pending = BUSY
        try:
            if self._eof:
                raise FrameLifecycleError("a read after the end of the stream")
            if self._backlog is not None:
                self._flush()
            size = self._next_read
            at = self._tail
            head = self._head
            end = len(self._buf)
            # Most reads land in the spare capacity as it is; the rest go through _make_room
            # (no room, a long consumed prefix, the limit near, capacity to give back).
            if (
                at + size > end
                or head > end >> 1
                or at - head + size > self._limit
                or (
                    end - head > 2 * size + 2 * SLACK
                    and end - head > 2 * self._capacity_wanted(size)
                )
            ):
                size = self._make_room(size, shorter=True)
                at = self._tail
            # A view alive before the read is the caller's: only one appearing during it is
            # the source's doing (the probe is exact, so is the attribution).
            pinned = self._exported()
            view = memoryview(self._buf)[at : at + size]
            try:
                got = read_into(view)
            finally:
                try:  # noqa: SIM105 - contextlib.suppress costs more than the rest of a read
                    view.release()
                except BufferError:
                    pass  # read_into exported it: reported below, once the bytes are kept
            if got is not None:
                got = index(got)  # an int, or TypeError with nothing kept
            if got:
                if not 0 < got <= size:
                    raise ValueError(f"{read_into!r} returned {got!r} for a {size}-byte view")
                self._tail = at + got
            self._next_read = next_read_size(got or 0, size, self._max_read)
            if not pinned and self._exported():
                raise FrameLifecycleError(
                    f"{read_into!r} kept an export of the buffer it was given; the bytes it "
                    "read are buffered: release the export, then read on"
                )
            return got
        finally:
            self._pending = None

    # ----------------------------------------------------------------------------------------
    # Under the BUSY mark

    @unpinned
    def _give_back_after_a_short_read(self, got: int) -> None:
        """A reservation much larger than what came (the first read of a connection asks for
        ``read_size``): keep about the next read's room, so that a connection waiting with a
        partial frame holds little. Only an economy: a view alive postpones it."""
        spare = len(self._buf) - self._tail
        keep = self._next_read + SLACK
        if got < self._reserved_size and spare > 2 * keep:
            with contextlib.suppress(BufferError):
                del self._buf[self._tail + keep :]

    @unpinned
    def _make_room(self, size: int, shorter: bool) -> int:
        """Room for a read of ``size`` bytes at ``_tail``, within ``max_size``: returns the size
        to read (with ``shorter``, less when the frame being received ends within the capacity
        held, see :func:`fit`). Raises :class:`FrameLifecycleError` before anything moves when
        the buffer is full or a view blocks a move."""
        room = self._limit - (self._tail - self._head)
        if room <= 0:
            raise self._full()
        if size > room:
            size = room
        if self._worth_sliding(size):
            try:
                self._slide()
            except FrameLifecycleError:
                if self._tail + size > len(self._buf):
                    raise
                # Only an economy: a view alive postpones it, the read lands as it is.
        # A custom rule's buffer is trimmed to the unconsumed bytes before each call (unless
        # it is waiting for a frame of known size): lengthening it beyond this read would
        # zero-fill the same spare bytes again after every call.
        expect = self._expect
        ahead = AHEAD if self._fast is not None or expect else 0
        frame_end = self._head + expect if expect and shorter else 0
        try:
            return fit(self._buf, self._tail, size, ahead, frame_end)
        except BufferError:
            raise FrameLifecycleError(EXPORTED) from None

    def _full(self) -> FrameLifecycleError:
        # next_frame raises FrameTooLarge when a full buffer holds no frame, so a read into a
        # full buffer means frames were left untaken.
        return FrameLifecycleError(
            f"the buffer is full ({len(self)} bytes, max_size={self._limit}): take the buffered "
            "frames with next_frame() before reading more"
        )
