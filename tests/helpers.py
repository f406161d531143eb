"""Helpers shared by the tests: run a rule over every way a stream can be split into reads.

In the spirit of h11's test helpers, a case is checked fed all at once, byte by byte and in random
(seeded) chunkings, with and without an incomplete frame left in the buffer afterwards: a rule
whose frames depend on where the reads were cut fails here.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from streamframer import BufferManager, NeedMore, Rule, RuleResult, Skip

#: Settings for property tests: deterministic (derandomized, no example database) and cheap.
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: How many random chunkings each case is fed in, on top of all at once and byte by byte.
RANDOM_CHUNKINGS = 12


def split_at(data: bytes, sizes: Sequence[int]) -> list[bytes]:
    """``data`` cut into pieces of the given sizes, used in turn (the last piece may be shorter).
    Sizes below 1 count as 1."""
    pieces = []
    position = 0
    turn = 0
    while position < len(data):
        size = max(1, sizes[turn % len(sizes)]) if sizes else len(data)
        pieces.append(data[position : position + size])
        position += size
        turn += 1
    return pieces


def chunkings(data: bytes, seed: int = 0) -> Iterator[tuple[str, list[bytes]]]:
    """``(name, chunks)`` for every way a case is fed: all at once, byte by byte, then random
    chunkings from ``random.Random(seed)``."""
    yield "all at once", [data]
    yield "byte by byte", [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(seed)
    for number in range(RANDOM_CHUNKINGS):
        sizes = [rng.randint(1, 1 + len(data) // 3) for _ in range(rng.randint(1, 6))]
        yield f"random chunking {number} (seed {seed}, sizes {sizes})", split_at(data, sizes)


def run_rule(
    rule: Rule, chunks: Sequence[bytes], *, max_size: int | None = None
) -> tuple[list[bytes], bytes]:
    """Feed ``chunks`` into a fresh manager one by one, taking every frame after each; return the
    payloads and the bytes left in the buffer. Each frame's view must match its bytes."""
    mgr = BufferManager(max_size)
    payloads = []
    for chunk in chunks:
        mgr.feed(chunk)
        while (frame := mgr.next_frame(rule)) is not None:
            payload = bytes(frame)
            with frame.view as view:
                assert view.tobytes() == payload
            assert len(frame) == len(payload)
            payloads.append(payload)
            frame.consume()
    with mgr.view() as rest:
        return payloads, rest.tobytes()


def check_frames(
    rule: Rule,
    data: bytes,
    expected: Sequence[bytes],
    *,
    partial: bytes = b"",
    leftover: bytes = b"",
    seed: int = 0,
) -> None:
    """Assert that ``rule`` frames ``data`` into exactly ``expected``, with ``leftover`` left in
    the buffer, however ``data`` is split into reads; and that an incomplete frame ``partial``
    appended after it changes nothing but the leftover (the rule never reads past a frame)."""
    expected = list(expected)
    for trailing in (b"", partial) if partial else (b"",):
        for name, chunks in chunkings(data + trailing, seed):
            payloads, rest = run_rule(rule, chunks)
            assert payloads == expected, f"{name}, trailing {trailing!r}"
            assert rest == leftover + trailing, f"{name}, trailing {trailing!r}"
    # The batch path agrees.
    mgr = BufferManager(None)
    mgr.feed(data + partial)
    assert mgr.drain(rule) == expected
    assert len(mgr) == len(leftover + partial)


def check_error(
    rule: Rule,
    data: bytes,
    error: type[Exception],
    *,
    match: str,
    offset: int | None = None,
    before: Sequence[bytes] = (),
    seed: int = 0,
) -> None:
    """Assert that framing ``data`` raises ``error`` (message matching ``match``, ``.offset`` equal
    to ``offset`` when given) after exactly the frames ``before``, however it is split."""
    for name, chunks in chunkings(data, seed):
        mgr = BufferManager(None)
        payloads: list[bytes] = []
        fed = bytearray()
        with pytest.raises(error, match=match) as caught:
            _feed_all(mgr, rule, chunks, payloads, fed)
        assert payloads == list(before), name
        if offset is not None:
            assert getattr(caught.value, "offset", None) == offset, name
        # Nothing is lost: the bad bytes are still buffered, to inspect or discard.
        with mgr.view() as rest:
            assert rest.tobytes(), name
            assert fed.endswith(rest.tobytes()), name


def _feed_all(
    mgr: BufferManager, rule: Rule, chunks: list[bytes], payloads: list[bytes], fed: bytearray
) -> None:
    for chunk in chunks:
        mgr.feed(chunk)
        fed += chunk
        while (frame := mgr.next_frame(rule)) is not None:
            payloads.append(bytes(frame))
            frame.consume()


class CountingRule:
    """Wraps a rule and counts its work as the contract defines it: each call may examine the
    bytes from ``scan`` to the end of the buffer (plus a bounded look-back)."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.calls = 0
        self.examined = 0

    def __call__(self, buffer: bytearray, scan: int) -> RuleResult:
        self.calls += 1
        self.examined += len(buffer) - scan
        return self.rule(buffer, scan)


def count_work(rule: Rule, data: bytes, piece: int = 1024) -> tuple[CountingRule, list[bytes]]:
    """Feed ``data`` in pieces of ``piece`` bytes, taking frames as they complete; return the
    counter and the payloads."""
    counting = CountingRule(rule)
    payloads, _ = run_rule(counting, split_at(data, [piece]))
    return counting, payloads


class CountingBuffer(bytearray):
    """A bytearray that counts the bytes its searches and slices examine: the real work of a
    rule, hidden rescans included (the contract's ``len(buffer) - scan`` trusts the rule)."""

    examined = 0

    def find(self, sub: Any, start: Any = 0, end: Any = None) -> int:  # type: ignore[override]
        stop = len(self) if end is None else min(end, len(self))
        index = super().find(sub, start, stop)
        self.examined += max(0, (index + len(sub) if index >= 0 else stop) - start)
        return index

    def startswith(self, prefix: Any, start: Any = 0, end: Any = None) -> bool:  # type: ignore[override]
        self.examined += len(prefix)
        return super().startswith(prefix, start, end)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            self.examined += len(range(*key.indices(len(self))))
        return super().__getitem__(key)


def drive_counting(rule: Rule, data: bytes, piece: int = 1024) -> tuple[int, list[bytes]]:
    """Run ``rule`` by hand the way a manager does (append a read, call with the stored scan,
    cut consumed frames from the front) over a :class:`CountingBuffer`; return the bytes examined
    and the payloads."""
    buffer = CountingBuffer()
    scan = 0
    payloads = []
    for chunk in split_at(data, [piece]):
        buffer += chunk
        while True:
            result = rule(buffer, scan)
            if isinstance(result, NeedMore):
                scan = result.resume
                break
            if isinstance(result, Skip):
                del buffer[: result.nbytes]
                scan = 0
                continue
            payloads.append(bytes(memoryview(buffer)[result.start : result.end]))
            del buffer[: result.consume]
            scan = 0
    return buffer.examined, payloads
