"""Timing and verification: best of N, interleaved, and every run checked.

An implementation is a function ``run(measure) -> (frames, payload_bytes)`` bound to one
workload's input. In a timed run ``measure`` is the builtin ``len`` (each loop adds
``measure(payload)`` to its byte count, which costs what ``len`` costs); in the verification run
it is a :class:`Recorder`, which also digests every payload it sees. So the timed loop is the
verified loop, with no extra work per frame.

Every run's counts are compared with the workload's; the verification run also compares the
digest of the payloads, in order. A mismatch raises :class:`WrongResult`: a benchmark that frames
wrongly fails loudly, it never prints a number.

Repetitions are interleaved (rep 1 of every implementation, then rep 2, ...) so that a burst of
load from elsewhere on the machine hits them all alike; the garbage collector is off during each
run, as in ``timeit``. In-memory runs are pure computation in one thread, so they are timed in
process CPU time (``time.process_time``): time the scheduler gives to other processes on a busy
machine is not charged to them. (Loopback runs wait on a socket and use wall time.)
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

from .workloads import PayloadDigest

Measure = Callable[[Any], int]
RunFn = Callable[[Measure], "tuple[int, int]"]


class WrongResult(AssertionError):
    """An implementation framed the workload wrongly; ``got`` is what it counted."""

    def __init__(self, message: str, got: tuple[int, int]) -> None:
        super().__init__(message)
        self.got = got


@dataclass
class Impl:
    name: str
    run: RunFn
    #: "streamframer", "peer", "floor" (a C lower bound that does not stream) or "baseline"
    #: (moves bytes without framing them: its frame count is not checked).
    role: str = "peer"
    #: Bytes at the end of what the implementation hands to ``measure`` that are not payload
    #: (a delimiter that ``readuntil`` or ``readline`` keep); the run subtracts them itself.
    trim: int = 0


@dataclass
class Expected:
    frames: int
    payload_bytes: int
    stream_bytes: int
    digest: bytes | None = None


@dataclass
class Result:
    group: str
    workload: str
    impl: str
    role: str
    stream_bytes: int
    #: What the implementation counted (``None`` until it ran, or when it was skipped).
    frames: int | None = None
    payload_bytes: int | None = None
    best: float | None = None
    error: str | None = None
    #: Why the row has no time although nothing went wrong (not installed, skipped).
    note: str | None = None

    def record(self, got: tuple[int, int]) -> None:
        self.frames, self.payload_bytes = got

    @property
    def frames_per_s(self) -> float:
        return (self.frames or 0) / self.best if self.best else 0.0

    @property
    def bytes_per_s(self) -> float:
        return self.stream_bytes / self.best if self.best else 0.0


class Recorder:
    """A ``measure`` that digests what it is given (minus ``trim`` trailing bytes) and returns
    ``len()`` of it, like the builtin it replaces."""

    def __init__(self, trim: int = 0) -> None:
        self.trim = trim
        self.payloads = PayloadDigest()

    def __call__(self, payload: Any) -> int:
        data = bytes(payload)
        self.payloads.add(data[: len(data) - self.trim])
        return len(data)


def check_counts(impl: Impl, expected: Expected, got: tuple[int, int]) -> None:
    check(impl.name, impl.role, expected, got)


def check(name: str, role: str, expected: Expected, got: tuple[int, int]) -> None:
    """Raise :class:`WrongResult` unless ``got`` (frames, payload bytes) is what was expected;
    a baseline that does not frame must have moved every byte of the stream."""
    frames, payload_bytes = got
    if role == "baseline":
        ok = payload_bytes == expected.stream_bytes
    else:
        ok = (frames, payload_bytes) == (expected.frames, expected.payload_bytes)
    if not ok:
        raise WrongResult(
            f"{name}: got {frames} frames / {payload_bytes} payload bytes, expected "
            f"{expected.frames} frames / {expected.payload_bytes} payload bytes",
            got,
        )


def verify(impl: Impl, expected: Expected) -> tuple[int, int]:
    """One run with a :class:`Recorder`: counts and, when known, the payload digest must match.
    Returns the (frames, payload bytes) the implementation counted."""
    recorder = Recorder(impl.trim)
    got = impl.run(recorder)
    check_counts(impl, expected, got)
    if impl.role == "baseline" or expected.digest is None:
        return got
    seen = recorder.payloads
    if seen.frames != expected.frames or seen.digest() != expected.digest:
        raise WrongResult(
            f"{impl.name}: the payloads differ from the workload's "
            f"({seen.frames} frames / {seen.payload_bytes} bytes seen)",
            got,
        )
    return got


def describe(exc: BaseException) -> str:
    if isinstance(exc, WrongResult):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def timed(impl: Impl) -> tuple[float, tuple[int, int]]:
    with gc_off():
        start = time.process_time()
        got = impl.run(len)
        return time.process_time() - start, got


def allocation_cost(size: int, repeats: int) -> float:
    """Best CPU time to allocate and fill one ``size``-byte object: what memory itself costs
    at that size on this machine (large blocks may come from fresh, page-faulting memory)."""
    best = float("inf")
    for _ in range(repeats):
        with gc_off():
            start = time.process_time()
            block = b"\x01" * size
            best = min(best, time.process_time() - start)
        del block
    return best


@contextmanager
def gc_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def measure(
    group: str, workload: str, impls: Sequence[Impl], expected: Expected, repeats: int
) -> list[Result]:
    """Verify every implementation, then time each ``repeats`` times (interleaved); keep the
    best. An implementation that frames wrongly gets an ``error`` and no time."""
    results = [
        Result(group, workload, impl.name, impl.role, expected.stream_bytes) for impl in impls
    ]
    for impl, result in zip(impls, results):
        try:
            result.record(verify(impl, expected))
        except Exception as exc:  # any failure is reported on the row, and fails the run
            if isinstance(exc, WrongResult):
                result.record(exc.got)
            result.error = describe(exc)
    for _ in range(repeats):
        for impl, result in zip(impls, results):
            if result.error is not None:
                continue
            try:
                elapsed, got = timed(impl)
                result.record(got)
                check_counts(impl, expected, got)
            except Exception as exc:
                result.error = describe(exc)
                continue
            if result.best is None or elapsed < result.best:
                result.best = elapsed
    return results
