"""Reference-leak check of the compiled core: every public operation and error path, looped.

Each case below is a small program over one family of operations (feeds, frames, consume,
views, reserve/commit, _fill, every rule kind, drain, limits, every error the core raises, the
compiled adapter loops over fake sources). It runs a few hundred times to warm up caches and
free lists, then in rounds; after each round, with garbage collected, three things are
measured: the memory Python's allocators hold (tracemalloc, which sees the core's objects and
buffers), the number of objects the garbage collector tracks, and the reference counts of the
objects the case was handed (its rule, source, data). A leak of one object or one reference
per call grows one of them by at least the number of calls, every round; a case whose every
round grew one of them past that fails.

A debug build's ``sys.gettotalrefcount`` would be more direct, but is not available in a
release build: this runs on the Python CI installs.

    python tests/refleak.py            # every case; exit 1 naming the cases that leak
    python tests/refleak.py -v feeds   # the cases named, with their figures
"""

from __future__ import annotations

import contextlib
import gc
import sys
import tracemalloc
from typing import Any, Callable

import streamframer
from streamframer import (
    BufferManager,
    FrameLifecycleError,
    FrameSpan,
    NeedMore,
    Skip,
    StreamFramerError,
    between,
    fixed_size,
    ieee_block,
    iter_frames,
    iter_payloads,
    length_prefixed,
    netstring,
    read_with_rule,
    scpi_response,
    until_any,
    until_delim,
    until_eot,
    varint_prefixed,
)

CALLS = 400  # per round
ROUNDS = 4
WARMUP = 2

Case = Callable[[], None]
CASES: dict[str, Callable[[], tuple[Case, tuple[object, ...]]]] = {}


def case(function: Callable[[], tuple[Case, tuple[object, ...]]]) -> Callable[[], Any]:
    """Register a case: ``function`` returns the loop body and the objects whose reference
    counts it must leave alone."""
    CASES[function.__name__] = function
    return function


def expect(error: Any, body: Callable[[], object]) -> None:
    """Run ``body``, which must raise ``error``."""
    try:
        body()
    except error:
        return
    raise AssertionError(f"no {error} raised")


LINE = until_delim(b"\n")
DATA = b"alpha\nbeta\r\n" * 4


class Source:
    """A socket double: ``chunks`` in turn through recv_into, recv or readinto, then the end
    (or "would block" first, once)."""

    def __init__(self, chunks: list[bytes], way: str = "recv_into", block: bool = False) -> None:
        self.chunks, self.block = list(chunks), block
        setattr(self, way, getattr(self, "_" + way))

    def _next(self, size: int) -> bytes:
        if self.block:
            self.block = False
            raise BlockingIOError
        return self.chunks.pop(0)[:size] if self.chunks else b""

    def _recv_into(self, view: memoryview, nbytes: int = 0, flags: int = 0) -> int:
        data = self._next(len(view))
        view[: len(data)] = data
        return len(data)

    _readinto = _recv_into

    def _recv(self, size: int, flags: int = 0) -> bytes:
        return self._next(size)


@case
def feeds_and_frames() -> tuple[Case, tuple[object, ...]]:
    data = DATA

    def body() -> None:
        mgr = BufferManager()
        mgr.feed(data)
        mgr.feed(memoryview(data)[:5])
        mgr.feed(bytearray(b"x\n"))
        while (frame := mgr.next_frame(LINE)) is not None:
            assert frame == bytes(frame) == frame.tobytes()
            repr(frame), len(frame), frame.consumed
            frame.consume()
        repr(mgr), len(mgr), mgr.skipped, mgr.at_eof, sys.getsizeof(mgr)

    return body, (data, LINE)


@case
def views_and_lifecycle() -> tuple[Case, tuple[object, ...]]:
    def body() -> None:
        mgr = BufferManager()
        mgr.feed(DATA)
        with mgr.next_frame(LINE) as frame:
            view = frame.view
            with memoryview(frame) as whole:
                assert whole[0] == view[0]
            expect(FrameLifecycleError, frame.consume)  # a view alive
            expect(FrameLifecycleError, lambda: mgr.next_frame(LINE))  # outstanding
            expect(FrameLifecycleError, mgr.view)
            view.release()
        expect(FrameLifecycleError, frame.consume)
        expect(FrameLifecycleError, lambda: frame.view)
        with mgr.view() as held:
            mgr.feed(b"behind the view\n")  # waits behind it
            expect(FrameLifecycleError, lambda: mgr.reserve(1 << 20))
            bytes(held)
        mgr.shrink()
        mgr.discard(1)
        mgr.clear()
        expect(ValueError, lambda: mgr.discard(1))
        expect(TypeError, lambda: mgr.discard("1"))  # type: ignore[arg-type]

    return body, (LINE,)


@case
def reserve_commit_fill() -> tuple[Case, tuple[object, ...]]:
    def read_into(view: memoryview) -> int:
        view[:6] = b"hello\n"
        return 6

    def keeps(view: memoryview) -> int:
        kept.append(view)
        return 0

    kept: list[memoryview] = []

    def body() -> None:
        mgr = BufferManager(read_size=64)
        view = mgr.reserve()
        view[:3] = b"ab\n"
        expect(FrameLifecycleError, lambda: mgr.reserve(4))
        mgr.commit(3)
        expect(FrameLifecycleError, lambda: mgr.commit(1))
        with mgr.reserve(8) as view:
            view[:2] = b"c\n"
        expect(ValueError, lambda: mgr.commit(9))
        mgr.commit(2)
        expect(ValueError, lambda: mgr.reserve(0))
        assert mgr._fill(read_into) == 6  # type: ignore[attr-defined]
        assert mgr._fill(lambda view: None) is None  # type: ignore[attr-defined]
        expect(ValueError, lambda: mgr._fill(lambda view: 10**6))  # type: ignore[attr-defined]
        expect(KeyError, lambda: mgr._fill(lambda view: {}[0]))  # type: ignore[attr-defined]
        mgr._fill(keeps)  # type: ignore[attr-defined]
        kept.pop().release()
        assert mgr.drain(LINE) == [b"ab", b"c", b"hello"]
        mgr.feed_eof()
        expect(FrameLifecycleError, lambda: mgr.reserve(1))
        with contextlib.suppress(FrameLifecycleError):  # refused (the compiled core: issue 17)
            mgr._fill(read_into)  # type: ignore[attr-defined]

    return body, (LINE, read_into)


RULES = [
    (until_delim(b"\r\n", strip=b" "), b"a b \r\nc\r\n"),
    (until_delim(b"\n", keep_delimiter=True), b"\n\na\nb\n"),
    (until_delim(b"\n", skip_empty=True), b"\n\na\nb\n"),
    (until_eot(4), b"abc\x04de\x04"),
    (until_any([b"\r\n", b"\n", b";"]), b"a;b\nc\r\n"),
    (fixed_size(3), b"abcdefgh"),
    (length_prefixed(2), b"\x00\x03abc\x00\x01d"),
    (length_prefixed(4, offset=1, byteorder="little", magic=b"M"), b"M\x03\x00\x00\x00abcM"),
    (varint_prefixed(), b"\x03abc\x01d"),
    (netstring(), b"3:abc,1:d,"),
    (between(b"<", b">"), b"noise<abc>x<d>"),
    (ieee_block(), b"#15hello\n#13abc\n"),
    (scpi_response(), b"+1.0\n#13abc\n"),
]


@case
def every_rule() -> tuple[Case, tuple[object, ...]]:
    rules = tuple(rule for rule, _ in RULES)

    def body() -> None:
        for rule, data in RULES:
            mgr = BufferManager(read_size=3)
            mgr.feed(data)
            while (frame := mgr.next_frame(rule)) is not None:
                frame.consume()
            mgr.clear()
            mgr.feed(data)
            mgr.drain(rule)
            mgr.feed_eof()
            expect(StreamFramerError, lambda rule=rule, mgr=mgr: mgr.next_frame(rule))

    return body, rules


class CustomRule:
    """A custom rule giving each result kind in turn, then bad ones."""

    def __init__(self) -> None:
        self.answers: list[object] = []

    def __call__(self, buffer: bytearray, scan: int) -> object:
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


@case
def custom_rules_and_bad_results() -> tuple[Case, tuple[object, ...]]:
    rule = CustomRule()
    odd = [
        None,
        (0, 1, 1),
        FrameSpan(0, 10**4, 10**4),
        FrameSpan(-1, 0, 1),
        NeedMore(10**4),
        Skip(0),
        FrameSpan(0, 2**70, 2**70),
        tuple.__new__(FrameSpan, (0, 1)),
        FrameSpan(0.0, 1.0, 1.0),  # type: ignore[arg-type]
    ]

    def body() -> None:
        mgr = BufferManager()
        mgr.feed(b"noise|frame\nrest")
        rule.answers = [Skip(6), FrameSpan(0, 5, 6), NeedMore(4, 100), RuntimeError("boom")]
        mgr.next_frame(rule).consume()
        assert mgr.next_frame(rule) is None
        mgr.feed(b"x" * 100)
        expect(RuntimeError, lambda: mgr.next_frame(rule))
        for answer in odd:
            rule.answers = [answer]
            # Refused; which error is the regression tests' business, not this check's.
            expect(Exception, lambda: mgr.next_frame(rule))
        expect(TypeError, lambda: mgr.next_frame(42))  # type: ignore[arg-type]

    return body, (rule, *odd)


@case
def limits_and_errors() -> tuple[Case, tuple[object, ...]]:
    big = b"x" * 64 + b"\n"
    header = length_prefixed(2)

    def body() -> None:
        mgr = BufferManager(16)
        mgr.feed(big)
        expect(streamframer.FrameTooLarge, lambda: mgr.next_frame(LINE))
        expect(FrameLifecycleError, lambda: mgr.next_frame(LINE))
        mgr.clear()
        mgr.max_size = None
        mgr.max_size = 8
        expect(ValueError, lambda: setattr(mgr, "max_size", 0))
        expect(TypeError, lambda: setattr(mgr, "max_size", "8"))
        discarding = BufferManager(8, on_overflow="discard")
        discarding.feed(big + b"ok\n")
        expect(streamframer.FrameDiscarded, lambda: discarding.next_frame(LINE))
        discarding.next_frame(LINE).consume()
        discarding.feed(b"\x00\x0a" + b"y" * 10)
        expect(streamframer.FrameDiscarded, lambda: discarding.next_frame(header))
        bad = BufferManager()
        bad.feed(b"abc:")
        expect(streamframer.FramingError, lambda: bad.next_frame(netstring()))
        ended = BufferManager(on_eof="frame")
        ended.feed(b"partial")
        ended.feed_eof()
        ended.next_frame(LINE).consume()
        expect(streamframer.StreamClosed, lambda: ended.next_frame(LINE))
        closed = BufferManager()
        closed.feed(b"partial")
        closed.feed_eof()
        expect(streamframer.StreamClosed, lambda: closed.drain(LINE))
        expect(ValueError, lambda: BufferManager(0))
        expect(ValueError, lambda: BufferManager(on_eof="never"))  # type: ignore[arg-type]
        expect(ValueError, lambda: BufferManager(read_size=0))

    return body, (big, header, LINE)


@case
def adapter_loops() -> tuple[Case, tuple[object, ...]]:
    chunks = [b"one\ntw", b"o\nthree", b"\n"]

    def body() -> None:
        for way in ("recv_into", "recv", "readinto"):
            source = Source(chunks, way, block=True)
            mgr = BufferManager()
            assert read_with_rule(source, mgr, LINE) is None  # would block
            read_with_rule(source, mgr, LINE).consume()
            assert [bytes(f) for f in iter_frames(source, mgr, LINE)] == [b"two", b"three"]
            source = Source(chunks, way)
            assert list(iter_payloads(source, BufferManager(), LINE)) == [b"one", b"two", b"three"]
            partial = Source([b"no end"], way)
            expect(
                streamframer.StreamClosed,
                lambda p=partial: list(iter_payloads(p, BufferManager(), LINE)),
            )
            broken = Source([], way)
            setattr(broken, way, lambda *args: (_ for _ in ()).throw(OSError("down")))
            expect(OSError, lambda b=broken: read_with_rule(b, BufferManager(), LINE))

    return body, (LINE, *chunks)


def measure(name: str, verbose: bool) -> bool:
    """True if the case ``name`` is flat."""
    body, watched = CASES[name]()
    for _ in range(WARMUP * CALLS // 2):
        body()
    rounds: list[tuple[int, int, list[int]]] = []
    tracemalloc.start()
    try:
        for _ in range(ROUNDS + 1):
            for _ in range(CALLS):
                body()
            gc.collect()
            memory = tracemalloc.get_traced_memory()[0]
            rounds.append((memory, len(gc.get_objects()), [sys.getrefcount(o) for o in watched]))
    finally:
        tracemalloc.stop()
    growth = [
        (b[0] - a[0], b[1] - a[1], max((y - x for x, y in zip(a[2], b[2])), default=0))
        for a, b in zip(rounds, rounds[1:])
    ]
    # One leaked object is some 16 bytes at the least, one leaked reference one count.
    leaks = [
        what
        for index, what in enumerate(("memory", "objects", "references"))
        if all(g[index] >= CALLS * (16 if index == 0 else 1) for g in growth)
    ]
    if verbose or leaks:
        figures = ", ".join(f"{m:+d} B {o:+d} objects {r:+d} refs" for m, o, r in growth)
        verdict = "LEAKS " + "/".join(leaks) if leaks else "flat"
        print(f"{name}: {verdict} ({figures}, per {CALLS} calls)")
    return not leaks


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    names = [arg for arg in argv if arg != "-v"] or list(CASES)
    if streamframer.IMPLEMENTATION != "c":
        print("refleak: the compiled core is not in use; nothing to check", file=sys.stderr)
        return 1
    leaking = [name for name in names if not measure(name, verbose)]
    print(f"refleak: {len(names) - len(leaking)} of {len(names)} cases flat")
    return 1 if leaking else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
