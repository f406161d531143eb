"""Test helpers shared by the test modules (import with ``from helpers import ...``).

Two tools, after h11 and tokio-util:

* Run a framing case in every way bytes can arrive: all at once, byte by byte, in seeded random
  chunkings, and with trailing bytes left over in the buffer.

  - ``chunkings(data, seed)`` yields the chunkings (lists of bytes that join to ``data``).
  - ``frames_from_chunks(rule, chunks)`` feeds the chunks one by one, takes every complete frame
    after each with ``next_frame()``, and returns ``(payloads, leftover)``.
  - ``drained_from_chunks(rule, chunks)`` does the same through the batch path, ``drain()``.
  - ``check_rule_case(rule, data, frames, leftover)`` asserts both of them, for every chunking,
    and again with trailing bytes appended.

  Every function takes ``mgr_factory`` (default ``BufferManager``) to run with other limits or
  policies.

* ``ScriptedSocket``: a socket double that plays a script, item by item, on each read: bytes are
  delivered (as much as fits in the caller's buffer, the rest stays for the next read), ``b""`` is
  the end of the stream, and an exception (class or instance) is raised: ``BlockingIOError`` for
  "would block", ``socket.timeout`` for a timeout. It counts its reads, remembers the sizes it was
  asked for, and raises ``ScriptExhausted`` (an ``AssertionError``) when read past the script, so a
  wrong loop fails instead of hanging. ``ScriptedRecvSocket`` offers only ``recv()``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from typing import Callable, Union

from hypothesis import HealthCheck, settings

from streamframer import BufferManager, Rule

__all__ = [
    "DETERMINISTIC",
    "ManagerFactory",
    "ScriptExhausted",
    "ScriptItem",
    "ScriptedRecvSocket",
    "ScriptedSocket",
    "check_rule_case",
    "chunkings",
    "drained_from_chunks",
    "frames_from_chunks",
    "random_chunks",
    "split_at",
]

ManagerFactory = Callable[[], BufferManager]

#: Hypothesis settings for every property test here: same examples on every run, no database,
#: no deadline (the machine is shared; time is never what a test checks).
DETERMINISTIC = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=80,
    suppress_health_check=[HealthCheck.too_slow],
)


# --------------------------------------------------------------------------------------------
# Chunkings


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (any order, duplicates give empty chunks)."""
    bounds = [0, *sorted(min(max(cut, 0), len(data)) for cut in cuts), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def random_chunks(data: bytes, rng: random.Random, max_chunk: int | None = None) -> list[bytes]:
    """``data`` in random pieces of 1 to ``max_chunk`` bytes (default: up to ``len(data)``)."""
    longest = max(1, max_chunk or len(data))
    chunks = []
    at = 0
    while at < len(data):
        size = rng.randint(1, longest)
        chunks.append(data[at : at + size])
        at += size
    return chunks


def chunkings(data: bytes, seed: int = 0, random_count: int = 8) -> Iterator[list[bytes]]:
    """Every way a case is fed: all at once, byte by byte, then ``random_count`` random
    chunkings drawn from ``random.Random(seed)`` (half of them in pieces of at most 4 bytes,
    so that delimiters are split)."""
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(seed)
    for n in range(random_count):
        yield random_chunks(data, rng, 4 if n % 2 else None)


# --------------------------------------------------------------------------------------------
# Running a rule


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
        for chunks in chunkings(case, seed):
            for run in (frames_from_chunks, drained_from_chunks):
                got = run(rule, chunks, mgr_factory)
                assert got == (list(frames), expected_leftover), (run.__name__, chunks)


# --------------------------------------------------------------------------------------------
# Scripted socket doubles

ScriptItem = Union[bytes, BaseException, "type[BaseException]"]


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
