"""Helpers shared by the tests: run a rule over every way a stream can be split into reads, and
scripted socket doubles.

In the spirit of h11's test helpers, a case is checked fed all at once, byte by byte and in random
(seeded) chunkings, with and without an incomplete frame left in the buffer afterwards: a rule
whose frames depend on where the reads were cut fails here.

* ``chunkings(data, seed)`` yields ``(name, chunks)`` for each of those ways; ``split_at(data,
  sizes)`` cuts into pieces of the given sizes, ``cut_at(data, offsets)`` at given offsets.
* ``run_rule`` / ``check_frames`` / ``check_error``: a rule over every chunking, with a limit.
* ``frames_from_chunks(rule, chunks, mgr_factory=...)`` and ``drained_from_chunks`` return
  ``(payloads, leftover)`` through ``next_frame()`` and ``drain()`` on a manager made by
  ``mgr_factory`` (other limits and policies); ``check_rule_case`` asserts both over every
  chunking, and again with trailing bytes appended.
* ``take``, ``buffered``, ``chunks_of``, ``one_big_frame``: small conveniences.
* ``EVENT_LOOPS``: the asyncio event loops the asyncio and anyio tests run on (the
  ``event_loop_name`` fixture in conftest.py).
* ``CountingRule`` / ``CountingBuffer`` / ``count_work`` / ``drive_counting``: a rule's work.
* ``CORES`` / ``run_isolated(core, code)``: a script run in a fresh interpreter on the named core
  ("c" or "python"), for any case where the compiled core might crash: the crash then fails that
  test and not the run.
* ``ScriptedSocket`` (``recv_into``) and ``ScriptedRecvSocket`` (``recv`` only), tokio-util style:
  each read plays the next script item: bytes are delivered (as much as fits in the caller's
  buffer, the rest stays for the next read), ``b""`` is the end of the stream, an exception
  (class or instance) is raised: ``BlockingIOError`` for "would block", ``socket.timeout`` for a
  timeout. They count reads, remember the sizes asked for, and raise ``ScriptExhausted`` (an
  ``AssertionError``) when read past the script, so a wrong loop fails instead of hanging.
* ``check_isolated(core, code, expected)``: ``run_isolated`` with the package's names imported,
  checking a clean exit and exactly the output expected.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import random
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Callable, Union

import pytest
from hypothesis import HealthCheck, settings

import streamframer
from streamframer import BufferManager, FrameSpan, NeedMore, Rule, RuleResult, Skip

#: Settings for property tests: deterministic (derandomized, no example database) and cheap.
# The default event loop, and uvloop wherever the test extra installs it (CPython, not Windows):
# there a missing uvloop fails the tests instead of being skipped.
EVENT_LOOPS = (
    ["asyncio", "uvloop"]
    if platform.python_implementation() == "CPython" and sys.platform != "win32"
    else ["asyncio"]
)

PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: The core suite's property settings: the same, with a few more examples.
DETERMINISTIC = settings(PROPERTY, max_examples=80)

ManagerFactory = Callable[[], BufferManager]

#: The cores a test may run on in a subprocess: the pure one always, the compiled one when built.
CORES = [
    "python",
    pytest.param(
        "c",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("streamframer._core._ccore") is None,
            reason="the compiled core is not built",
        ),
    ),
]


def run_isolated(core: str, code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``code`` run by a fresh interpreter on ``core`` ("c" or "python"); the script checks
    ``streamframer.IMPLEMENTATION`` itself is the one asked for. Returns the finished process
    (a crash is a negative return code)."""
    env = {k: v for k, v in os.environ.items() if k != "STREAMFRAMER_NO_EXTENSIONS"}
    if core == "python":
        env["STREAMFRAMER_NO_EXTENSIONS"] = "1"
    check = f"import streamframer\nassert streamframer.IMPLEMENTATION == {core!r}\n"
    return subprocess.run(
        [sys.executable, "-c", check + code],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
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


def cut_at(data: bytes, offsets: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (any order; duplicates give empty chunks)."""
    bounds = [0, *sorted(min(max(cut, 0), len(data)) for cut in offsets), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


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


def rs_block(data: bytes) -> bytes:
    """A Rohde & Schwarz block, ``#(n)`` then the data: what pyvisa's ``to_rs_block`` makes (from
    pyvisa 1.15; ``test_rules_blocks.py`` checks the two agree where pyvisa has it)."""
    return b"#(%d)" % len(data) + data


class EncodingLine:
    """A custom rule that offers an encoder, as the rule contract allows: lines ended by LF."""

    def __call__(self, buffer: bytearray, scan: int) -> RuleResult:
        end = buffer.find(b"\n", scan)
        if end < 0:
            return NeedMore(len(buffer))
        return FrameSpan(0, end, end + 1)

    def encode(self, payload: bytes, *, prefix: bytes = b"") -> bytes:
        if b"\n" in payload:
            raise ValueError(f"payload {payload!r} holds the delimiter b'\\n'")
        return prefix + payload + b"\n"


def count_searches(mgr: BufferManager) -> Callable[[], int]:
    """A function giving the bytes ``mgr``'s own searches examined since this call: counted by
    the compiled core itself (``_examined``), or, in the pure core, by a :class:`CountingBuffer`
    installed as its private ``_buf`` (which it mutates in place and never replaces)."""
    if streamframer.IMPLEMENTATION == "c":
        start = int(mgr._examined)  # type: ignore[attr-defined]
        return lambda: int(mgr._examined) - start  # type: ignore[attr-defined]
    assert len(mgr._buf) == 0, "install the counter on a new manager"  # type: ignore[attr-defined]
    counter = mgr._buf = CountingBuffer()  # type: ignore[attr-defined]

    def examined() -> int:
        assert mgr._buf is counter, "the manager replaced its buffer: count incomplete"  # type: ignore[attr-defined]
        return counter.examined

    return examined


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


# --------------------------------------------------------------------------------------------
# Running a rule on a manager made by mgr_factory


def frames_from_chunks(
    rule: Rule, chunks: Iterable[bytes], mgr_factory: ManagerFactory = BufferManager
) -> tuple[list[bytes], bytes]:
    """Feed ``chunks`` into a fresh manager one by one; after each, take every complete frame
    with ``next_frame()`` (copying and consuming it). Returns ``(payloads, leftover)``, where
    ``leftover`` is what stays buffered at the end."""
    mgr = mgr_factory()
    payloads: list[bytes] = []
    for chunk in chunks:
        mgr.feed(chunk)
        while True:
            frame = mgr.next_frame(rule)
            if frame is None:
                break
            payloads.append(bytes(frame))
            frame.consume()
    return payloads, _leftover(mgr)


def drained_from_chunks(
    rule: Rule, chunks: Iterable[bytes], mgr_factory: ManagerFactory = BufferManager
) -> tuple[list[bytes], bytes]:
    """Like :func:`frames_from_chunks`, through ``drain()`` after each chunk."""
    mgr = mgr_factory()
    payloads: list[bytes] = []
    for chunk in chunks:
        mgr.feed(chunk)
        payloads += mgr.drain(rule)
    return payloads, _leftover(mgr)


def take(mgr: BufferManager, rule: Rule) -> bytes | None:
    """The next frame's payload (copied, and the frame consumed), or None if none is complete."""
    frame = mgr.next_frame(rule)
    if frame is None:
        return None
    with frame:
        return bytes(frame)


def buffered(mgr: BufferManager) -> bytes:
    """A copy of the bytes ``mgr`` holds (through ``view()``, released at once)."""
    with mgr.view() as view:
        return bytes(view)


def chunks_of(data: bytes, size: int) -> Iterator[memoryview]:
    """``data`` in reads of ``size`` bytes, without copying it."""
    view = memoryview(data)
    for at in range(0, len(data), size):
        yield view[at : at + size]


def one_big_frame(delim: bytes, total: int, filler: bytes = b"x") -> bytes:
    """One frame of exactly ``total`` bytes, delimiter included."""
    return filler * (total - len(delim)) + delim


def _leftover(mgr: BufferManager) -> bytes:
    with mgr.view() as view:
        leftover = bytes(view)
    assert len(mgr) == len(leftover), (len(mgr), leftover)
    return leftover


def check_rule_case(
    rule: Rule,
    data: bytes,
    frames: Sequence[bytes],
    leftover: bytes = b"",
    *,
    trailing: Sequence[bytes] = (),
    seed: int = 0,
    mgr_factory: ManagerFactory = BufferManager,
) -> None:
    """Assert that ``data`` gives exactly ``frames`` and ``leftover`` in every chunking, through
    ``next_frame()`` and ``drain()``; then, for each of ``trailing`` (bytes that complete no
    frame after ``leftover``), that ``data + trailing`` gives the same frames and leaves
    ``leftover + trailing`` in the buffer."""
    cases = [(data, leftover)] + [(data + extra, leftover + extra) for extra in trailing]
    for case, expected_leftover in cases:
        for name, chunks in chunkings(case, seed):
            for run in (frames_from_chunks, drained_from_chunks):
                got = run(rule, chunks, mgr_factory)
                assert got == (list(frames), expected_leftover), (run.__name__, name)


# --------------------------------------------------------------------------------------------
# Scripted socket doubles

ScriptItem = Union[bytes, BaseException, "type[BaseException]"]


class FakeClock:
    """Stands in for the ``time`` module (``monkeypatch.setattr(module, "time", FakeClock(1.0))``):
    every ``monotonic()`` call advances ``step`` seconds, so deadlines expire after a known
    number of checks, whatever the machine's speed."""

    def __init__(self, step: float) -> None:
        self.now = 1000.0
        self.step = step

    def monotonic(self) -> float:
        self.now += self.step
        return self.now


class ScriptExhausted(AssertionError):
    """The code under test read past the end of a ScriptedSocket's script."""


class _Script:
    def __init__(self, script: Iterable[ScriptItem]) -> None:
        self.script: list[ScriptItem] = list(script)
        #: How many reads were made (whatever their outcome).
        self.calls = 0
        #: The most bytes each read asked for, in order.
        self.requested: list[int] = []

    def _next(self, size: int) -> bytes:
        self.calls += 1
        self.requested.append(size)
        if not self.script:
            raise ScriptExhausted(f"read #{self.calls} past the end of the script")
        item = self.script[0]
        if not isinstance(item, bytes):
            del self.script[0]
            raise item
        if not item:
            del self.script[0]
            return b""
        data, rest = item[:size], item[size:]
        if rest:
            self.script[0] = rest
        else:
            del self.script[0]
        return data

    @property
    def remaining(self) -> bytes:
        """The scripted bytes not delivered yet (exceptions and EOF markers left out)."""
        return b"".join(item for item in self.script if isinstance(item, bytes))


class ScriptedSocket(_Script):
    """A socket double offering ``recv_into`` (the zero-copy path)."""

    def recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:
        size = min(nbytes or len(buffer), len(buffer))
        data = self._next(size)
        buffer[: len(data)] = data
        return len(data)


class ScriptedRecvSocket(_Script):
    """A socket double offering only ``recv`` (the copying path)."""

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        return self._next(bufsize)


# ------------------------------------------------------------------------------------------------
# A snippet in a fresh interpreter, on one core, checked

_PRELUDE = """\
from streamframer import (
    BufferManager, FrameLifecycleError, FrameSpan, NeedMore, Skip, length_prefixed, until_delim,
)
"""


def check_isolated(core: str, code: str, expected: str) -> None:
    """``code`` (dedented, after the package's names are imported) exits cleanly when run by
    :func:`run_isolated` on ``core``, and prints exactly ``expected``."""
    done = run_isolated(core, _PRELUDE + textwrap.dedent(code))
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected, done.stderr
