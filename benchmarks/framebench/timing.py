"""Timing and verification: interleaved rounds, medians and bests, and every run checked.

An implementation is a function ``run(measure) -> (frames, payload_bytes)`` bound to one
workload's input. In a timed run ``measure`` is the builtin ``len`` (each loop adds
``measure(payload)`` to its byte count, which costs what ``len`` costs); in the verification run
it is a :class:`Recorder`, which also digests every payload it sees. So the timed loop is the
verified loop, with no extra work per frame.

Every run's counts are compared with the workload's; the verification run also compares the
digest of the payloads, in order. A mismatch raises :class:`WrongResult`: a benchmark that frames
wrongly fails loudly, it never prints a number.

Runs are interleaved in rounds (round 1 runs every implementation once, then round 2, ...), and
every round's time is kept. A result reports the median and the best of its rounds. A ratio
between two implementations measured together is the median of their per-round ratios (the two
runs of a round are close together in time, and the median drops the rounds a burst of load from
elsewhere happened to hit on one side), and the ratio of their bests. The garbage collector is off
during each run, as in ``timeit``. In-memory runs are pure computation in one thread, so they are
timed in process CPU time (``time.process_time``): time the scheduler gives to other processes on
a busy machine is not charged to them. (Loopback runs wait on a socket and use wall time.)
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
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
    #: Seconds per round, in round order (an error stops the rounds and voids them).
    times: list[float] = field(default_factory=list)
    error: str | None = None
    #: Why the row has no time although nothing went wrong (not installed, skipped).
    note: str | None = None

    def record(self, got: tuple[int, int]) -> None:
        self.frames, self.payload_bytes = got

    @property
    def samples(self) -> list[float]:
        return self.times if self.error is None else []

    @property
    def best(self) -> float | None:
        return min(self.samples, default=None)

    @property
    def median(self) -> float | None:
        samples = self.samples
        return statistics.median(samples) if samples else None

    @property
    def frames_per_s(self) -> float:
        median = self.median
        return (self.frames or 0) / median if median else 0.0

    @property
    def bytes_per_s(self) -> float:
        median = self.median
        return self.stream_bytes / median if median else 0.0


@dataclass(frozen=True)
class Ratio:
    """How many times faster ``mine`` is than ``theirs`` (above 1: ``mine`` is faster)."""

    median: float
    best: float


def ratio(mine: Result, theirs: Result) -> Ratio | None:
    """The median of the per-round ratios ``theirs / mine`` and the ratio of the bests; ``None``
    unless both were timed in the same rounds (by the same :func:`measure`)."""
    pairs = [(a, b) for a, b in zip(mine.samples, theirs.samples) if a > 0 and b > 0]
    if not pairs:
        return None
    best_mine, best_theirs = mine.best, theirs.best
    assert best_mine is not None
    assert best_theirs is not None
    return Ratio(statistics.median(b / a for a, b in pairs), best_theirs / best_mine)


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


@contextmanager
def gc_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass
class Case:
    """One implementation on one workload: what it must find, and what it got."""

    impl: Impl
    expected: Expected
    result: Result


def measure(
    group: str, workload: str, impls: Sequence[Impl], expected: Expected, rounds: int
) -> list[Result]:
    """Verify every implementation, then time each once per round, for ``rounds`` interleaved
    rounds. An implementation that frames wrongly gets an ``error`` and no time."""
    cases = [
        Case(impl, expected, Result(group, workload, impl.name, impl.role, expected.stream_bytes))
        for impl in impls
    ]
    measure_cases(cases, rounds)
    return [case.result for case in cases]


def measure_cases(cases: Sequence[Case], rounds: int) -> None:
    """:func:`measure` for cases that may belong to different workloads: each round runs every
    case once, so ratios across workloads (per-byte cost at several sizes) are paired too."""
    for case in cases:
        try:
            case.result.record(verify(case.impl, case.expected))
        except Exception as exc:  # any failure is reported on the row, and fails the run
            if isinstance(exc, WrongResult):
                case.result.record(exc.got)
            case.result.error = describe(exc)
    for _ in range(rounds):
        for case in cases:
            result = case.result
            if result.error is not None:
                continue
            try:
                elapsed, got = timed(case.impl)
                result.record(got)
                check_counts(case.impl, case.expected, got)
            except Exception as exc:
                result.error = describe(exc)
                continue
            result.times.append(elapsed)
