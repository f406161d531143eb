"""streamframer through each of its paths, on a workload's reads.

The socket-shaped paths read from :class:`ChunkSource`, a scripted fake whose ``recv_into`` copies
the next read into the manager's buffer (as a socket's would, minus the system call); the sans-IO
paths ``feed()`` the same reads. Every path builds a fresh manager per run, with
``read_size`` = the workload's read size and a ``max_size`` that fits its largest frame.

Rules: ``until_delim`` for lines; for length-prefixed frames and IEEE 488.2 blocks the built-in
rules (``length_prefixed(4)``, ``ieee_block()``) when this streamframer has them, else the
user-written rules below, which follow the public rule contract. The "user-written rule" rows
always use the latter: a rule a user writes must stay reasonably fast too.

When the compiled core is in use, the pure-Python core (the fallback) gets a per-frame row of its
own, in the same process: a manager from ``streamframer._core._pure`` and the Python loop behind
``read_with_rule`` (its ``__wrapped__``).

The custom-rule rows compare ``read_with_rule`` over a socket with ``feed`` + ``next_frame`` on
the same reads. There the socket is :class:`StreamSource`, whose ``recv_into`` is C, so that the
comparison is of streamframer's per-read work alone: :class:`ChunkSource` runs Python per read,
which the sans-IO side would not pay.
"""

from __future__ import annotations

import io
import struct
from typing import Any, Callable

import streamframer
from streamframer import (
    DEFAULT_MAX_SIZE,
    BufferManager,
    FrameSpan,
    FramingError,
    NeedMore,
    RuleResult,
    StreamClosed,
    iter_frames,
    iter_payloads,
    read_with_rule,
    until_delim,
)
from streamframer._core import _pure

from .timing import Impl, Measure
from .workloads import Workload

_U32 = struct.Struct(">I")


def u32_prefixed(buffer: bytearray, scan: int) -> RuleResult:
    """A user-written rule: a 4-byte big-endian length, then that many payload bytes."""
    if len(buffer) < 4:
        return NeedMore(0)
    size = 4 + _U32.unpack_from(buffer)[0]
    if len(buffer) < size:
        return NeedMore(0, frame_size=size)
    return FrameSpan(4, size, size)


def ieee_block(buffer: bytearray, scan: int) -> RuleResult:
    """A user-written rule: an IEEE 488.2 definite-length block ``#<n><length><data>\\n``."""
    if len(buffer) < 2:
        return NeedMore(0)
    if buffer[0] != 0x23:
        raise FramingError(f"an IEEE block starts with b'#', got {bytes(buffer[:1])!r}", 0)
    digits = buffer[1] - 0x30
    if not 1 <= digits <= 9:
        raise FramingError(f"bad IEEE block digit count {bytes(buffer[1:2])!r}", 1)
    header = 2 + digits
    if len(buffer) < header:
        return NeedMore(0)
    length = bytes(buffer[2:header])
    if not length.isdigit():
        raise FramingError(f"bad IEEE block length {length!r}", 2)
    size = header + int(length) + 1
    if len(buffer) < size:
        return NeedMore(0, frame_size=size)
    if buffer[size - 1] != 0x0A:
        raise FramingError(f"IEEE block not ended by b'\\n': {bytes(buffer[size - 1 : size])!r}")
    return FrameSpan(header, size - 1, size)


def builtin_rule(framing: str) -> tuple[Any, str]:
    """The rule for ``framing`` and how to name it in the table."""
    if framing == "lf":
        return until_delim(b"\n"), "until_delim"
    if framing == "crlf":
        return until_delim(b"\r\n"), "until_delim"
    if framing == "u32":
        if hasattr(streamframer, "length_prefixed"):
            return streamframer.length_prefixed(4), "length_prefixed(4)"
        return u32_prefixed, "user-written rule"
    if framing == "ieee":
        if hasattr(streamframer, "ieee_block"):
            return streamframer.ieee_block(), "ieee_block()"
        return ieee_block, "user-written rule"
    raise ValueError(f"unknown framing {framing!r}")


USER_RULES: dict[str, Callable[[bytearray, int], RuleResult]] = {
    "u32": u32_prefixed,
    "ieee": ieee_block,
}


class ChunkSource:
    """A fake socket: ``recv_into`` copies the next scripted read, then returns 0 (EOF).

    A read larger than the buffer offered is delivered over several calls, as a socket would.
    """

    __slots__ = ("_next", "_rest")

    def __init__(self, chunks: list[bytes]) -> None:
        self._next = iter(chunks).__next__
        self._rest = b""

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        chunk = self._rest
        if not chunk:
            try:
                chunk = self._next()
            except StopIteration:
                return 0
        room = len(buffer) if not nbytes else min(nbytes, len(buffer))
        size = len(chunk)
        if size <= room:
            buffer[:size] = chunk
            self._rest = b""
            return size
        buffer[:room] = chunk[:room]
        self._rest = chunk[room:]
        return room


class StreamSource:
    """A fake socket whose ``recv_into`` is ``io.BytesIO.readinto``: C code fills the buffer it
    is given from the stream, as a socket with that many bytes waiting would. The manager's
    ``read_size`` sets the reads' size."""

    __slots__ = ("recv_into",)

    def __init__(self, stream: bytes) -> None:
        self.recv_into = io.BytesIO(stream).readinto


def new_manager(wl: Workload, core: Any = streamframer) -> BufferManager:
    manager: BufferManager = core.BufferManager(
        max(DEFAULT_MAX_SIZE, wl.largest_frame), read_size=wl.read_size
    )
    return manager


def _end_of_stream(exc: StreamClosed) -> None:
    if exc.partial:
        raise exc


def per_frame(wl: Workload, rule: Any, measure: Measure) -> tuple[int, int]:
    return _per_frame(ChunkSource(wl.chunks), new_manager(wl), read_with_rule, rule, measure)


# The Python statement of read_with_rule; with the compiled core active, read_with_rule is the
# compiled loop and this is what it wraps.
_PURE_READ_WITH_RULE = getattr(read_with_rule, "__wrapped__", read_with_rule)


def pure_per_frame(wl: Workload, rule: Any, measure: Measure) -> tuple[int, int]:
    mgr = new_manager(wl, _pure)
    return _per_frame(ChunkSource(wl.chunks), mgr, _PURE_READ_WITH_RULE, rule, measure)


def _per_frame(
    source: Any, mgr: BufferManager, read: Any, rule: Any, measure: Measure
) -> tuple[int, int]:
    frames = payload = 0
    try:
        while True:
            frame = read(source, mgr, rule)
            if frame is None:
                continue
            frames += 1
            payload += measure(frame)
            frame.consume()
    except StreamClosed as exc:
        _end_of_stream(exc)
    return frames, payload


def per_frame_bytes(wl: Workload, rule: Any, measure: Measure) -> tuple[int, int]:
    source = ChunkSource(wl.chunks)
    mgr = new_manager(wl)
    frames = payload = 0
    try:
        while True:
            frame = read_with_rule(source, mgr, rule)
            if frame is None:
                continue
            data = bytes(frame)
            frame.consume()
            frames += 1
            payload += measure(data)
    except StreamClosed as exc:
        _end_of_stream(exc)
    return frames, payload


def per_frame_tobytes(wl: Workload, rule: Any, measure: Measure) -> tuple[int, int]:
    """The seed's loop with ``frame.tobytes()`` in place of ``bytes(frame)``."""
    source = ChunkSource(wl.chunks)
    mgr = new_manager(wl)
    frames = payload = 0
    try:
        while True:
            frame = read_with_rule(source, mgr, rule)
            if frame is None:
                continue
            data = frame.tobytes()
            frame.consume()
            frames += 1
            payload += measure(data)
    except StreamClosed as exc:
        _end_of_stream(exc)
    return frames, payload


def sans_io(wl: Workload, rule: Any, measure: Measure) -> tuple[int, int]:
    mgr = new_manager(wl)
    feed = mgr.feed
    next_frame = mgr.next_frame
    frames = payload = 0
    for chunk in wl.chunks:
        feed(chunk)
        while (frame := next_frame(rule)) is not None:
            frames += 1
            payload += measure(frame)
            frame.consume()
    _check_empty(mgr)
    return frames, payload


def iterator(wl: Workload, rule: Any, measure: Measure) -> tuple[int, int]:
    mgr = new_manager(wl)
    frames = payload = 0
    for frame in iter_frames(ChunkSource(wl.chunks), mgr, rule):
        frames += 1
        payload += measure(frame)
    return frames, payload


def drain(wl: Workload, rule: Any, measure: Measure) -> tuple[int, int]:
    mgr = new_manager(wl)
    feed = mgr.feed
    take = mgr.drain
    frames = payload = 0
    for chunk in wl.chunks:
        feed(chunk)
        payloads = take(rule)
        frames += len(payloads)
        payload += sum(map(measure, payloads))
    _check_empty(mgr)
    return frames, payload


def payloads(wl: Workload, rule: Any, measure: Measure) -> tuple[int, int]:
    mgr = new_manager(wl)
    frames = payload = 0
    for data in iter_payloads(ChunkSource(wl.chunks), mgr, rule):
        frames += 1
        payload += measure(data)
    return frames, payload


def _check_empty(mgr: BufferManager) -> None:
    if len(mgr):
        raise AssertionError(f"{len(mgr)} bytes left in the manager at the end of the stream")


PATHS: list[tuple[str, Callable[[Workload, Any, Measure], tuple[int, int]]]] = [
    ("per-frame: read_with_rule + consume", per_frame),
    ("per-frame + bytes(frame)", per_frame_bytes),
    ("per-frame + frame.tobytes()", per_frame_tobytes),
    ("sans-IO: feed + next_frame", sans_io),
    ("iterator: iter_frames", iterator),
    ("batch: feed + drain", drain),
    ("batch: iter_payloads", payloads),
]
PER_FRAME = "streamframer " + PATHS[0][0]
SEED_LOOP = "streamframer " + PATHS[1][0]
PURE_PER_FRAME = "streamframer pure core: per-frame read_with_rule + consume"


def impls(wl: Workload, pure: bool = False) -> list[Impl]:
    """streamframer's rows for ``wl``: every path with the built-in rule (or the user-written one
    where there is no built-in yet), plus the per-frame path with the user-written rule when a
    built-in one exists, and with ``pure`` the pure core's per-frame path when the compiled core
    is the one in use."""
    rule, rule_name = builtin_rule(wl.framing)
    suffix = "" if rule_name in ("until_delim", "user-written rule") else f" [{rule_name}]"
    if rule_name == "user-written rule":
        suffix = " [user-written rule]"
    rows = [
        Impl(f"streamframer {label}{suffix}", _bind(fn, wl, rule), "streamframer")
        for label, fn in PATHS
    ]
    if pure and streamframer.IMPLEMENTATION != "python":
        rows.append(Impl(PURE_PER_FRAME, _bind(pure_per_frame, wl, rule), "streamframer"))
    user_rule = USER_RULES.get(wl.framing)
    if user_rule is not None and user_rule is not rule:
        name = "streamframer per-frame [user-written rule]"
        rows.append(Impl(name, _bind(per_frame, wl, user_rule), "streamframer"))
    return rows


OVER_SOCKET = "streamframer over a socket: read_with_rule + consume"
SANS_IO = "streamframer sans-IO: feed + next_frame"


def custom_rule_impls(wl: Workload) -> list[Impl]:
    """The same frames read over a socket (:class:`StreamSource`) and fed sans-IO, with the
    user-written rule, then with the built-in one."""
    stream = b"".join(wl.chunks)

    def over_socket(rule: Any) -> Callable[[Measure], tuple[int, int]]:
        return lambda measure: _per_frame(
            StreamSource(stream), new_manager(wl), read_with_rule, rule, measure
        )

    user_rule = USER_RULES[wl.framing]
    rules = [(user_rule, "user-written rule")]
    builtin, builtin_name = builtin_rule(wl.framing)
    if builtin is not user_rule:
        rules.append((builtin, builtin_name))
    rows = []
    for rule, name in rules:
        rows.append(Impl(f"{OVER_SOCKET} [{name}]", over_socket(rule), "streamframer"))
        rows.append(Impl(f"{SANS_IO} [{name}]", _bind(sans_io, wl, rule), "streamframer"))
    return rows


def _bind(
    fn: Callable[[Workload, Any, Measure], tuple[int, int]], wl: Workload, rule: Any
) -> Callable[[Measure], tuple[int, int]]:
    return lambda measure: fn(wl, rule, measure)
