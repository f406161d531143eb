"""Linear time, counted (bytes examined), never timed.

Counted twice: through the manager's own search for built-in delimiter rules, and through the
public rule contract (a wrapping custom rule adds up
``len(buffer) - scan`` on every call). The manager's own search is counted by the core: the
compiled core keeps the count itself (``_examined``); the pure core's ``find`` calls on its private
``_buf`` are counted by a bytearray subclass installed as ``_buf`` right after construction (the
manager mutates ``_buf`` in place and never replaces it, which each count checks). The pure batch
path's C-level ``split`` and copy are counted through the profiler's C-call events.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytest

import streamframer
from helpers import ScriptedSocket, chunks_of, one_big_frame
from streamframer import (
    BufferManager,
    RuleResult,
    read_with_rule,
    until_delim,
)

KiB = 1024
MiB = 1024 * KiB
BIG = 16 * MiB
LINE = until_delim(b"\n")


class CountingBuffer(bytearray):
    """A bytearray that adds up the bytes each ``find``/``rfind`` examines and fails as soon as
    the total passes ``budget``, so a quadratic scan fails fast.

    A search that fails examined its whole range (end - start); one that succeeds, the bytes up
    to the end of the match (from the side it searched from).
    """

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.examined = 0
        self.budget = budget

    def _count(self, sub: Any, start: Any, end: Any, found: int, forward: bool) -> None:
        first, last, _ = slice(start, end).indices(len(self))
        if found < 0:
            self.examined += max(0, last - first)
        elif forward:  # a one-byte needle may be passed as an int
            self.examined += found + (1 if isinstance(sub, int) else len(sub)) - first
        else:
            self.examined += last - found
        assert self.examined <= self.budget, f"examined {self.examined} > {self.budget} bytes"

    def find(self, sub: Any, start: Any = None, end: Any = None) -> int:
        found = super().find(sub, start, end)
        self._count(sub, start, end, found, forward=True)
        return found

    def rfind(self, sub: Any, start: Any = None, end: Any = None) -> int:
        found = super().rfind(sub, start, end)
        self._count(sub, start, end, found, forward=False)
        return found


class Examined:
    """The bytes a manager's own search examined since it was made: counted by the compiled
    core itself, or by a :class:`CountingBuffer` installed in the pure core."""

    def __init__(self, mgr: BufferManager, budget: int) -> None:
        self.mgr = mgr
        self.counter: CountingBuffer | None = None
        if streamframer.IMPLEMENTATION == "python":
            assert type(mgr._buf) is bytearray  # type: ignore[attr-defined]
            assert len(mgr._buf) == 0  # type: ignore[attr-defined]
            self.counter = mgr._buf = CountingBuffer(budget)  # type: ignore[attr-defined]

    @property
    def examined(self) -> int:
        if self.counter is None:
            return int(self.mgr._examined)  # type: ignore[attr-defined]
        assert self.mgr._buf is self.counter, "the manager replaced its buffer: count incomplete"  # type: ignore[attr-defined]
        return self.counter.examined


def counting_manager(budget: int, **kwargs: Any) -> tuple[BufferManager, Examined]:
    mgr = BufferManager(**kwargs)
    return mgr, Examined(mgr, budget)


# --------------------------------------------------------------------------------------------
# Linear time


@pytest.mark.parametrize("delim", [b"\n", b"\r\n", b"aba"], ids=repr)
def test_inline_path_is_linear_for_one_big_frame_in_1k_reads(delim: bytes) -> None:
    stream = one_big_frame(delim, BIG)
    rule = until_delim(delim)
    mgr, counter = counting_manager(budget=2 * BIG)
    for chunk in chunks_of(stream, KiB):
        mgr.feed(chunk)
        frame = mgr.next_frame(rule)
        if frame is not None:
            assert len(frame) == BIG - len(delim)
            frame.consume()
            break
    else:
        pytest.fail("the frame never came out")
    assert BIG <= counter.examined <= 2 * BIG


def test_read_with_rule_is_linear_for_one_big_frame_in_1k_reads() -> None:
    stream = one_big_frame(b"\n", BIG)
    sock = ScriptedSocket(bytes(chunk) for chunk in chunks_of(stream, KiB))
    mgr, counter = counting_manager(budget=2 * BIG)
    frame = None
    while frame is None:
        frame = read_with_rule(sock, mgr, LINE)
    assert len(frame) == BIG - 1
    frame.consume()
    assert sock.calls == BIG // KiB
    assert BIG <= counter.examined <= 2 * BIG


@pytest.mark.parametrize("delim", [b"\n", b"\0\0", b"aba"], ids=repr)
def test_public_contract_is_linear_for_one_big_frame_in_1k_reads(delim: bytes) -> None:
    inner = until_delim(delim)
    examined = 0

    def counting(buffer: bytearray, scan: int) -> RuleResult:
        nonlocal examined
        examined += len(buffer) - scan
        assert examined <= 2 * BIG, "quadratic rescanning"
        return inner(buffer, scan)

    mgr = BufferManager()
    payloads = []
    for chunk in chunks_of(one_big_frame(delim, BIG), KiB):
        mgr.feed(chunk)
        frame = mgr.next_frame(counting)
        if frame is not None:
            payloads.append(len(frame))
            frame.consume()
    assert payloads == [BIG - len(delim)]
    assert BIG <= examined <= 2 * BIG


@pytest.mark.parametrize("delim", [b"\n", b"\r\n", b"aaa"], ids=repr)
def test_byte_by_byte_costs_at_most_len_delim_per_byte(delim: bytes) -> None:
    size = 64 * KiB
    mgr, counter = counting_manager(budget=len(delim) * size)
    rule = until_delim(delim)
    stream = one_big_frame(delim, size, b"b")
    for at in range(size):
        mgr.feed(stream[at : at + 1])
        frame = mgr.next_frame(rule)
        if frame is not None:
            assert at == size - 1
            frame.consume()
    assert len(mgr) == 0
    assert size <= counter.examined <= len(delim) * size


@contextmanager
def split_work() -> Iterator[list[int]]:
    """Adds up the sizes of the bytes objects ``bytes.split`` and ``memoryview.tobytes`` work
    on (via the profiler's C-call events, which name the receiver)."""
    sizes: list[int] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call" and getattr(arg, "__name__", "") in ("split", "tobytes"):
            receiver = getattr(arg, "__self__", None)
            if isinstance(receiver, (bytes, bytearray, memoryview)):
                sizes.append(len(receiver))

    sys.setprofile(profile)
    try:
        yield sizes
    finally:
        sys.setprofile(None)


def test_drain_is_linear_for_one_big_frame_in_1k_reads() -> None:
    mgr, counter = counting_manager(budget=2 * BIG)
    payloads: list[bytes] = []
    with split_work() as sizes:
        for chunk in chunks_of(one_big_frame(b"\n", BIG), KiB):
            mgr.feed(chunk)
            payloads += mgr.drain(LINE)
    assert [len(p) for p in payloads] == [BIG - 1]
    assert counter.examined <= 2 * BIG
    # The batch split (or copy) runs once, over the frame, not once per read.
    assert sum(sizes) <= 2 * BIG, f"{len(sizes)} splits/copies of {sum(sizes)} bytes"


def test_drain_generic_path_is_linear() -> None:
    """drain() with strip (the frame-by-frame path) over many small frames and one big one."""
    rule = until_delim(b"\n", strip=b"\r")
    stream = b"ab\r\n" * (64 * KiB) + one_big_frame(b"\r\n", 4 * MiB)
    mgr, counter = counting_manager(budget=2 * len(stream))
    count = 0
    for chunk in chunks_of(stream, KiB):
        mgr.feed(chunk)
        count += len(mgr.drain(rule))
    assert count == 64 * KiB + 1
    assert counter.examined <= 2 * len(stream)


def test_a_rule_built_anew_for_every_read_stays_linear() -> None:
    """until_delim(b"\\n") inside the read loop: equal rules share the scan position."""
    data = b"x" * (256 * KiB) + b"\n"
    mgr, counter = counting_manager(budget=2 * len(data), max_size=None)
    frame = None
    for piece in chunks_of(data, KiB):
        mgr.feed(piece)
        frame = mgr.next_frame(until_delim(b"\n"))  # a new, equal object every time
    assert frame is not None
    assert len(frame) == len(data) - 1
    assert counter.examined <= 2 * len(data)
