"""The peers: other ways Python programs frame byte streams, on the same reads.

asyncio ``StreamReader`` is driven without an event loop round trip per read. A consumer
coroutine awaits ``reader.readuntil(sep)`` (or ``readexactly``) in a loop, exactly as a protocol
task would; the driver plays the transport: it calls ``reader.feed_data(chunk)``, then resumes the
coroutine with ``coro.send(None)``. While a whole frame is buffered ``readuntil`` returns without
suspending; when it needs more it suspends on the reader's internal waiter future, which the next
``feed_data`` completes. That is the task's own step in an event loop, minus the loop's
scheduling (``call_soon`` and a selector pass) per read, which would only slow asyncio down.

Twisted protocols get ``dataReceived(chunk)`` per read, on a ``StringTransport``; their callback
(``lineReceived``, ``stringReceived``) is a closure that counts. h11's ``ReceiveBuffer`` (private
API) gets ``buffer += chunk`` then ``maybe_extract_next_line()`` until ``None``.
``io.BufferedReader.readline`` (C) reads from a ``RawIOBase`` whose ``readinto`` copies the next
read. The naive loop concatenates bytes and ``find``s from a start offset, trimming once per read.
The ``bytes.split`` floor joins every read and splits once, in C: not a streaming framer, the
lower bound on what a Python framer can cost.
"""

from __future__ import annotations

import asyncio
import io
import struct
from collections.abc import Coroutine, Iterable
from typing import Any, Callable

from .timing import Impl, Measure
from .workloads import Workload

_NO_LIMIT = 1 << 40
_U32 = struct.Struct(">I")


# ----------------------------------------------------------------------------------------------
# asyncio StreamReader


def drive_stream_reader(
    chunks: Iterable[bytes], consumer: Callable[[asyncio.StreamReader], Coroutine[Any, Any, Any]]
) -> Any:
    """Feed ``chunks`` to a StreamReader read by ``consumer``; return what ``consumer`` returns."""
    loop = asyncio.new_event_loop()
    try:
        reader = asyncio.StreamReader(limit=_NO_LIMIT, loop=loop)
        coro = consumer(reader)
        send = coro.send
        feed = reader.feed_data
        try:
            send(None)
            for chunk in chunks:
                feed(chunk)
                send(None)
            reader.feed_eof()
            send(None)
        except StopIteration as stop:
            return stop.value
        coro.close()
        raise AssertionError("the consumer coroutine did not finish at the end of the stream")
    finally:
        loop.close()


def asyncio_readuntil(wl: Workload, measure: Measure) -> tuple[int, int]:
    separator = wl.delimiter

    async def consume(reader: asyncio.StreamReader) -> tuple[int, int]:
        readuntil = reader.readuntil
        frames = payload = 0
        while True:
            try:
                line = await readuntil(separator)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    raise
                return frames, payload - frames * len(separator)
            frames += 1
            payload += measure(line)

    result: tuple[int, int] = drive_stream_reader(wl.chunks, consume)
    return result


def asyncio_u32(wl: Workload, measure: Measure) -> tuple[int, int]:
    async def consume(reader: asyncio.StreamReader) -> tuple[int, int]:
        readexactly = reader.readexactly
        unpack = _U32.unpack
        frames = payload = 0
        while True:
            try:
                header = await readexactly(4)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    raise
                return frames, payload
            data = await readexactly(unpack(header)[0])
            frames += 1
            payload += measure(data)

    result: tuple[int, int] = drive_stream_reader(wl.chunks, consume)
    return result


def asyncio_ieee(wl: Workload, measure: Measure) -> tuple[int, int]:
    async def consume(reader: asyncio.StreamReader) -> tuple[int, int]:
        readexactly = reader.readexactly
        frames = payload = 0
        while True:
            try:
                start = await readexactly(2)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    raise
                return frames, payload - frames
            if start[0] != 0x23:
                raise ValueError(f"not an IEEE block: {start!r}")
            length = int(await readexactly(start[1] - 0x30))
            block = await readexactly(length + 1)  # the data and its b"\n"
            if block[-1] != 0x0A:
                raise ValueError("IEEE block not ended by b'\\n'")
            frames += 1
            payload += measure(block)

    result: tuple[int, int] = drive_stream_reader(wl.chunks, consume)
    return result


# ----------------------------------------------------------------------------------------------
# Twisted


def twisted_lines(wl: Workload, measure: Measure) -> tuple[int, int]:
    from twisted.internet.testing import StringTransport
    from twisted.protocols.basic import LineOnlyReceiver

    frames = payload = 0

    def line_received(line: bytes) -> None:
        nonlocal frames, payload
        frames += 1
        payload += measure(line)

    protocol = LineOnlyReceiver()
    protocol.delimiter = wl.delimiter
    protocol.MAX_LENGTH = wl.largest_frame
    protocol.lineReceived = line_received  # type: ignore[method-assign]
    protocol.makeConnection(StringTransport())
    data_received = protocol.dataReceived
    for chunk in wl.chunks:
        data_received(chunk)
    if protocol._buffer:
        raise AssertionError(f"{len(protocol._buffer)} bytes left at the end of the stream")
    return frames, payload


def twisted_u32(wl: Workload, measure: Measure) -> tuple[int, int]:
    from twisted.internet.testing import StringTransport
    from twisted.protocols.basic import Int32StringReceiver

    frames = payload = 0

    def string_received(data: bytes) -> None:
        nonlocal frames, payload
        frames += 1
        payload += measure(data)

    protocol = Int32StringReceiver()
    protocol.MAX_LENGTH = wl.largest_frame
    protocol.stringReceived = string_received  # type: ignore[method-assign]
    protocol.makeConnection(StringTransport())
    data_received = protocol.dataReceived
    for chunk in wl.chunks:
        data_received(chunk)
    return frames, payload


# ----------------------------------------------------------------------------------------------
# h11, io.BufferedReader


def h11_lines(wl: Workload, measure: Measure) -> tuple[int, int]:
    from h11._receivebuffer import ReceiveBuffer

    buffer = ReceiveBuffer()
    extract = buffer.maybe_extract_next_line
    frames = payload = 0
    for chunk in wl.chunks:
        buffer += chunk
        while (line := extract()) is not None:
            frames += 1
            payload += measure(line)
    if len(buffer):
        raise AssertionError(f"{len(buffer)} bytes left at the end of the stream")
    return frames, payload - 2 * frames


class ChunkRaw(io.RawIOBase):
    """A raw stream whose ``readinto`` copies the next scripted read (partly, if it must)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._next = iter(chunks).__next__
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._rest
        if not chunk:
            try:
                chunk = self._next()
            except StopIteration:
                return 0
        size = min(len(chunk), len(buffer))
        buffer[:size] = chunk[:size] if size < len(chunk) else chunk
        self._rest = chunk[size:]
        return size


def buffered_readline(wl: Workload, measure: Measure) -> tuple[int, int]:
    reader = io.BufferedReader(ChunkRaw(wl.chunks), buffer_size=wl.read_size)
    readline = reader.readline
    frames = payload = 0
    while line := readline():
        frames += 1
        payload += measure(line)
    return frames, payload - frames


# ----------------------------------------------------------------------------------------------
# Naive loops and the C floor


def naive_lines(wl: Workload, measure: Measure) -> tuple[int, int]:
    delimiter = wl.delimiter
    skip = len(delimiter)
    buffer = b""
    frames = payload = 0
    for chunk in wl.chunks:
        buffer += chunk
        start = 0
        while (index := buffer.find(delimiter, start)) >= 0:
            frames += 1
            payload += measure(buffer[start:index])
            start = index + skip
        buffer = buffer[start:]
    if buffer:
        raise AssertionError(f"{len(buffer)} bytes left at the end of the stream")
    return frames, payload


def naive_u32(wl: Workload, measure: Measure) -> tuple[int, int]:
    unpack_from = _U32.unpack_from
    buffer = b""
    frames = payload = 0
    for chunk in wl.chunks:
        buffer += chunk
        start = 0
        while len(buffer) - start >= 4:
            end = start + 4 + unpack_from(buffer, start)[0]
            if end > len(buffer):
                break
            frames += 1
            payload += measure(buffer[start + 4 : end])
            start = end
        buffer = buffer[start:]
    return frames, payload


def naive_ieee(wl: Workload, measure: Measure) -> tuple[int, int]:
    buffer = b""
    frames = payload = 0
    for chunk in wl.chunks:
        buffer += chunk
        start = 0
        while len(buffer) - start >= 2:
            header = start + 2 + buffer[start + 1] - 0x30
            if len(buffer) < header:
                break
            end = header + int(buffer[start + 2 : header])
            if len(buffer) <= end:
                break
            frames += 1
            payload += measure(buffer[header:end])
            start = end + 1
        buffer = buffer[start:]
    return frames, payload


def split_floor(wl: Workload, measure: Measure) -> tuple[int, int]:
    parts = b"".join(wl.chunks).split(wl.delimiter)
    if parts.pop():
        raise AssertionError("the stream does not end with a delimiter")
    return len(parts), sum(map(measure, parts))


# ----------------------------------------------------------------------------------------------

ASYNCIO = "asyncio StreamReader.readuntil"
TWISTED = "Twisted LineOnlyReceiver"
_Fn = Callable[[Workload, Measure], "tuple[int, int]"]
# name, function, role, the framings it applies to, the third-party module it needs
_PEERS: list[tuple[str, _Fn, str, tuple[str, ...], str | None]] = [
    (ASYNCIO, asyncio_readuntil, "peer", ("lf", "crlf"), None),
    ("asyncio StreamReader.readexactly", asyncio_u32, "peer", ("u32",), None),
    ("asyncio StreamReader.readexactly", asyncio_ieee, "peer", ("ieee",), None),
    (TWISTED, twisted_lines, "peer", ("lf", "crlf"), "twisted"),
    ("Twisted Int32StringReceiver", twisted_u32, "peer", ("u32",), "twisted"),
    ("h11 ReceiveBuffer.maybe_extract_next_line", h11_lines, "peer", ("crlf",), "h11"),
    ("io.BufferedReader.readline (C)", buffered_readline, "peer", ("lf",), None),
    ("naive bytes concat + find", naive_lines, "peer", ("lf", "crlf"), None),
    ("naive bytes concat + unpack", naive_u32, "peer", ("u32",), None),
    ("naive bytes concat + header parse", naive_ieee, "peer", ("ieee",), None),
    ("bytes.split floor (join + split, C)", split_floor, "floor", ("lf", "crlf"), None),
]


def _trim(fn: _Fn, wl: Workload) -> int:
    """How many bytes past the payload ``fn`` hands to ``measure`` (it subtracts them from its
    byte count itself; the verifying Recorder must drop them from what it digests)."""
    if fn in (asyncio_readuntil, h11_lines, buffered_readline):
        return len(wl.delimiter)
    if fn is asyncio_ieee:
        return 1
    return 0


def available(module: str | None) -> bool:
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def impls(wl: Workload, exclude: tuple[str, ...] = ()) -> tuple[list[Impl], list[str]]:
    """The peers that apply to ``wl`` and the names of those not installed."""
    rows: list[Impl] = []
    missing: list[str] = []
    for name, fn, role, framings, module in _PEERS:
        if wl.framing not in framings or fn.__name__ in exclude:
            continue
        if not available(module):
            missing.append(name)
            continue
        rows.append(Impl(name, _bind(fn, wl), role, _trim(fn, wl)))
    return rows, missing


def _bind(fn: _Fn, wl: Workload) -> Callable[[Measure], tuple[int, int]]:
    return lambda measure: fn(wl, measure)
