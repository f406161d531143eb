"""The compiled core against the pure one: any stream, any chunking, any operation sequence.

A state machine drives a manager of each core side by side with the same operations (feeds,
reads, frames taken, held, viewed and consumed, drains, zero-copy reads, recoveries, limits
changed, the end of the stream) and requires the same outcome from each: the same frames, the
same error types, messages and attributes, the same ``len(mgr)`` and ``skipped``, and the
same bytes left over. Then, regression tests for what the fuzzers in ``fuzz/`` found.

These are the only tests that need the compiled core: without it they are skipped, unless
``STREAMFRAMER_REQUIRE_EXTENSION=1`` says it must be there (CI), which fails the run instead.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from helpers import DETERMINISTIC
from streamframer import (
    BufferManager,
    Frame,
    FrameSpan,
    FrameTooLarge,
    NeedMore,
    RuleResult,
    StreamFramerError,
    between,
    fixed_size,
    ieee_block,
    length_prefixed,
    read_with_rule,
    scpi_response,
    until_any,
    until_delim,
    until_eot,
)
from streamframer._core import _pure

pytestmark = pytest.mark.one_core

try:
    from streamframer._core import _ccore
except ImportError:
    if os.environ.get("STREAMFRAMER_REQUIRE_EXTENSION") == "1":
        raise RuntimeError(
            "STREAMFRAMER_REQUIRE_EXTENSION=1 but the compiled core is not built: "
            "the differential tests cannot run"
        ) from None
    pytest.skip("the compiled core is not built", allow_module_level=True)

PURE: Callable[..., BufferManager] = _pure.BufferManager
COMPILED: Callable[..., BufferManager] = _ccore.BufferManager


def custom(rule: Callable[[bytearray, int], RuleResult]) -> Callable[[bytearray, int], RuleResult]:
    """``rule`` behind a plain function: both cores then call it through the public contract
    instead of recognising a built-in rule."""

    def call(buffer: bytearray, scan: int) -> RuleResult:
        return rule(buffer, scan)

    return call


RULES = [
    until_delim(b"\n"),
    until_delim(b"\r\n", keep_delimiter=True),
    until_delim(b"\n", strip=b"\r"),
    until_delim(b"aba"),
    until_eot(0x04),
    until_any([b"\r\n", b"\n", b"\r"]),
    fixed_size(3),
    length_prefixed(1),
    length_prefixed(2, offset=1, byteorder="little", adjust=-1, max_length=40),
    ieee_block(),
    scpi_response(),
    between(b"<", b">", trailer=1),
    custom(until_delim(b"\n")),
    custom(length_prefixed(1)),
    custom(between(b"<", b">")),
]
# Pieces that make frames and noise for the rules above: delimiters, markers, headers.
PIECES = st.sampled_from(
    [b"\n", b"\r\n", b"\r", b"a", b"ab", b"aba", b"\x04", b"\x00", b"\x03", b"\x10", b"#15",
     b"#0", b"<", b">", b"xyz", b"12345", b""]
)  # fmt: skip
DATA = st.lists(PIECES, max_size=5).map(b"".join)
LIMITS = st.sampled_from([None, 1, 3, 5, 8, 16, 64])


def outcome(action: Callable[[], Any]) -> tuple[Any, ...]:
    """What ``action`` gave, comparable between the cores: its value, or its error (type,
    message and the attributes a program reads)."""
    try:
        return ("ok", action())
    except StreamFramerError as exc:
        attributes = [getattr(exc, name, None) for name in ("partial", "limit", "size", "offset")]
        return ("raise", type(exc).__name__, str(exc), attributes)
    except (ValueError, TypeError) as exc:  # bad arguments, as documented
        return ("bad argument", type(exc).__name__, str(exc))


class Side:
    """One core's manager and what a program holds of it."""

    def __init__(self, manager: Callable[..., BufferManager], **options: Any) -> None:
        self.mgr = manager(**options)
        self.frame: Frame | None = None
        self.stale: Frame | None = None
        self.views: list[memoryview] = []
        self.manager_views = 0  # of self.views, how many came from view()

    def take(self, frame: Frame | None) -> bytes | None:
        if frame is None:
            return None
        self.frame = frame
        return frame.tobytes()

    def consume(self, stale: bool) -> None:
        frame = self.stale if stale or self.frame is None else self.frame
        if frame is not None:
            frame.consume()
            self.frame, self.stale = None, frame

    def release_all(self) -> None:
        for view in self.views:
            view.release()
        self.views.clear()
        self.manager_views = 0


class OneRead:
    """A socket double for one read: bytes, the end of the stream (``b""``), or would-block
    (``None``)."""

    def __init__(self, data: bytes | None) -> None:
        self.data = data

    def recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:
        if self.data is None:
            raise BlockingIOError
        size = min(len(buffer), len(self.data))
        buffer[:size] = self.data[:size]
        return size


class FirstByte(OneRead):
    """:class:`OneRead` that delivers the first byte only: how many bytes one read asks for is
    each core's own economy (its spare capacity, a frame's known end), and every read asks for
    at least one, so a single byte reaches both cores alike."""

    def recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:
        return super().recv_into(buffer[:1], nbytes, flags)


def no_manager_view(machine: DifferentialMachine) -> bool:
    """Reading, feeding, or running a rule that needs the buffer trimmed, while a view() is held,
    is left out: the documented answer depends on the spare capacity each core keeps (bytes
    that fit in capacity the buffer already has go in; bytes that need the buffer to move or
    grow are refused before a read, or wait behind the view when fed; nothing is lost either
    way), and that capacity is each core's own economy. The outcomes are pinned per core in
    test_faults.py and test_core_exports.py."""
    return machine.sides[0].manager_views == 0


class DifferentialMachine(RuleBasedStateMachine):
    """Both cores, one script: every step must give the same outcome on each."""

    @initialize(
        max_size=LIMITS,
        read_size=st.sampled_from([1, 4, 256]),
        on_overflow=st.sampled_from(["error", "discard"]),
        on_eof=st.sampled_from(["raise", "frame"]),
    )
    def start(self, **options: Any) -> None:
        self.sides = [Side(PURE, **options), Side(COMPILED, **options)]

    def both(self, action: Callable[[Side], Any]) -> None:
        pure, compiled = (outcome(lambda side=side: action(side)) for side in self.sides)
        assert compiled == pure

    @precondition(no_manager_view)
    @rule(data=DATA)
    def feed(self, data: bytes) -> None:
        self.both(lambda side: side.mgr.feed(data))

    @rule()
    def feed_eof(self) -> None:
        self.both(lambda side: side.mgr.feed_eof())

    @precondition(no_manager_view)
    @rule(which=st.sampled_from(RULES))
    def next_frame(self, which: Any) -> None:
        self.both(lambda side: side.take(side.mgr.next_frame(which)))

    @precondition(no_manager_view)
    @rule(which=st.sampled_from(RULES), data=st.none() | DATA)
    def read(self, which: Any, data: bytes | None) -> None:
        self.both(lambda side: side.take(read_with_rule(FirstByte(data), side.mgr, which)))

    @precondition(no_manager_view)
    @rule(which=st.sampled_from(RULES))
    def drain(self, which: Any) -> None:
        self.both(lambda side: side.mgr.drain(which))

    @rule(stale=st.booleans())
    def consume(self, stale: bool) -> None:
        self.both(lambda side: side.consume(stale))

    @rule(start=st.integers(0, 6), stop=st.integers(0, 6))
    def hold_frame_slice(self, start: int, stop: int) -> None:
        def hold(side: Side) -> bytes | None:
            if side.frame is None:
                return None
            side.views.append(side.frame.view[start:stop])
            return side.views[-1].tobytes()

        self.both(hold)

    @rule()
    def hold_manager_view(self) -> None:
        def hold(side: Side) -> bytes:
            side.views.append(side.mgr.view())
            side.manager_views += 1
            return side.views[-1].tobytes()

        self.both(hold)

    @precondition(lambda self: self.sides[0].views)
    @rule()
    def release_views(self) -> None:
        for side in self.sides:
            side.release_all()

    @precondition(no_manager_view)
    @rule(size=st.none() | st.integers(1, 8), data=DATA, count=st.integers(0, 8))
    def zero_copy_read(self, size: int | None, data: bytes, count: int) -> None:
        """reserve(), write, commit() what was written (bytes never written hold nothing
        defined: see test_commit_of_unwritten_bytes)."""

        def read(side: Side) -> int:
            with side.mgr.reserve(size) as view:
                reserved = len(view)
                written = data[:reserved]
                view[: len(written)] = written
            side.mgr.commit(min(count, len(written)))
            return reserved

        self.both(read)

    @rule(n=st.integers(0, 8))
    def discard(self, n: int) -> None:
        self.both(lambda side: side.mgr.discard(n))

    @rule()
    def clear(self) -> None:
        self.both(lambda side: side.mgr.clear())

    @rule(limit=LIMITS)
    def set_max_size(self, limit: int | None) -> None:
        def set_limit(side: Side) -> None:
            side.mgr.max_size = limit

        self.both(set_limit)

    @invariant()
    def same_state(self) -> None:
        pure, compiled = (
            (len(side.mgr), side.mgr.skipped, side.mgr.at_eof, side.mgr.max_size)
            for side in self.sides
        )
        assert compiled == pure

    def teardown(self) -> None:
        def leftover(side: Side) -> bytes:
            side.release_all()
            if side.frame is not None and not side.frame.consumed:
                side.frame.consume()
            with side.mgr.view() as view:
                return view.tobytes()

        self.both(leftover)


DifferentialMachine.TestCase.settings = settings(
    DETERMINISTIC, max_examples=200, stateful_step_count=40
)
test_differential_machine = DifferentialMachine.TestCase


# --------------------------------------------------------------------------------------------
# Found by fuzzing. A scenario plays a script on a manager and returns every outcome; the cores
# must agree, and where the right answer is known, give it.

CORES = [pytest.param(PURE, id="pure"), pytest.param(COMPILED, id="compiled")]


def same_on_both(scenario: Callable[[Callable[..., BufferManager]], list[Any]]) -> None:
    assert scenario(COMPILED) == scenario(PURE)


def u16_prefixed(buffer: bytearray, scan: int) -> RuleResult:
    """The README's custom rule: a 2-byte big-endian length, then the payload."""
    if len(buffer) < 2:
        return NeedMore(0)
    size = 2 + int.from_bytes(buffer[:2], "big")
    if len(buffer) < size:
        return NeedMore(0, frame_size=size)
    return FrameSpan(2, size, size)


@pytest.mark.parametrize("manager", CORES)
def test_a_raised_max_size_still_refuses_a_declared_frame(manager: Any) -> None:
    """A header declared 258 bytes; max_size raised from 8 to 16 is still too small. The
    compiled core kept the declared size and returned None without asking the rule again, so
    the buffer grew past max_size with no error."""
    mgr = manager(8)
    mgr.feed(b"\x01\x00")
    with pytest.raises(FrameTooLarge):
        mgr.next_frame(u16_prefixed)
    mgr.max_size = 16
    mgr.feed(b"x" * 100)
    with pytest.raises(FrameTooLarge, match="258 bytes exceeds max_size=16"):
        mgr.next_frame(u16_prefixed)


def take_payload(mgr: BufferManager, rule: Any) -> bytes | None:
    frame = mgr.next_frame(rule)
    if frame is None:
        return None
    with frame:
        return frame.tobytes()


@pytest.mark.parametrize("manager", CORES)
def test_commit_keeps_the_bytes_written_in_order(manager: Any) -> None:
    """commit(n) keeps the first n bytes of the reservation, after what was buffered; a
    reservation is not cleared first (bytes not written are the caller's mistake to commit),
    so that reserving costs no memory a read does not use."""
    mgr = manager(1000, read_size=16)
    mgr.feed(b"secret\n")
    take_payload(mgr, until_delim(b"\n"))
    mgr.feed(b"ab")
    with mgr.reserve() as view:
        view[:3] = b"c\r\n"
    mgr.commit(3)
    assert take_payload(mgr, until_delim(b"\n", strip=b"\r")) == b"abc"
    assert len(mgr) == 0


@pytest.mark.parametrize(
    "manager",
    [
        pytest.param(PURE, id="pure"),
        pytest.param(COMPILED, id="compiled"),
    ],
)
def test_a_declared_size_is_not_allocated_before_its_bytes_come(manager: Any) -> None:
    """A custom rule declares a 1 TiB frame after 8 bytes, with max_size=None: the compiled
    core's read grew the buffer to the declared size and raised MemoryError (and any declared
    size up to max_size is allocated on a few header bytes: 16 MiB per connection)."""

    def huge(buffer: bytearray, scan: int) -> RuleResult:
        return NeedMore(len(buffer), frame_size=1 << 40 if buffer else None)

    mgr = manager(None)
    source = OneRead(b"abcdefgh")
    assert read_with_rule(source, mgr, huge) is None
    assert read_with_rule(OneRead(b"ij"), mgr, huge) is None
    assert len(mgr) == 10
    assert mgr.__sizeof__() < 1 << 20


def test_custom_rule_under_a_view_refused_alike() -> None:
    """A custom rule needs the buffer trimmed to its bytes, which a live view() forbids:
    whether next_frame() is refused depends on the spare capacity each core keeps after a
    read (the compiled core keeps one more read, and refuses; the pure core frames)."""

    def scenario(manager: Callable[..., BufferManager]) -> list[Any]:
        mgr = manager(read_size=1)
        read_with_rule(OneRead(b"\x00"), mgr, until_eot(3))
        with mgr.view()[1:]:
            return [outcome(lambda: take_payload(mgr, custom(ieee_block())))]

    same_on_both(scenario)


def test_drain_drops_an_oversized_frame_alike() -> None:
    """drain() in discard mode after two frames were dropped, at the end of the stream: two
    empty frames, then an oversized one that the pure core drops at once (len(mgr) 0) and the
    compiled core on the next call (3); both raise FrameDiscarded then."""

    def scenario(manager: Callable[..., BufferManager]) -> list[Any]:
        mgr = manager(1, on_overflow="discard")
        mgr.feed(b";\xff\x00\x07\x00\x00\x07\x07\x07\x047\x07")
        mgr.feed_eof()
        rule = until_eot(7)
        return [(outcome(lambda: mgr.drain(rule)), len(mgr)) for _ in range(5)]

    same_on_both(scenario)


# Issue 11: what the cores got wrong before, on both.


def test_eof_ends_a_declared_frame_being_discarded() -> None:
    def scenario(manager: Callable[..., BufferManager]) -> list[Any]:
        mgr = manager(5, on_overflow="discard")
        mgr.feed(b"\x01\x00")
        steps = [outcome(lambda: mgr.next_frame(u16_prefixed))]
        mgr.feed_eof()
        return steps + [outcome(lambda: mgr.next_frame(u16_prefixed)) for _ in range(2)]

    same_on_both(scenario)


def test_commit_under_a_view_of_older_bytes() -> None:
    def scenario(manager: Callable[..., BufferManager]) -> list[Any]:
        mgr = manager(None, read_size=1)
        mgr.reserve()
        mgr.commit(0)
        with mgr.view():
            mgr.reserve()
            return [outcome(lambda: mgr.commit(0))]

    same_on_both(scenario)


def test_bytes_waiting_behind_a_view_are_bounded() -> None:
    def scenario(manager: Callable[..., BufferManager]) -> list[Any]:
        mgr = manager(1)
        with mgr.view():
            return [outcome(lambda: mgr.feed(b"\n\n")), len(mgr)]

    same_on_both(scenario)


def test_skipping_noise_under_a_view_changes_nothing() -> None:
    def scenario(manager: Callable[..., BufferManager]) -> list[Any]:
        mgr = manager(None)
        mgr.feed(b"x<")
        mgr.shrink()
        with mgr.view():
            return [outcome(lambda: mgr.next_frame(custom(between(b"<", b">")))), mgr.skipped]

    same_on_both(scenario)


def test_end_of_stream_read_under_a_view() -> None:
    def scenario(manager: Callable[..., BufferManager]) -> list[Any]:
        mgr = manager(None, read_size=1)
        read_with_rule(OneRead(None), mgr, until_delim(b"\n"))
        with mgr.view():
            return [outcome(lambda: read_with_rule(OneRead(b""), mgr, until_delim(b"\n")))]

    same_on_both(scenario)


# What the fuzzers found once the cores had the issue 11 fixes.


def test_a_reservation_shows_in_the_repr() -> None:
    def scenario(manager: Callable[..., BufferManager]) -> list[Any]:
        mgr = manager(None)
        mgr.reserve(4)
        return [repr(mgr)]

    same_on_both(scenario)


def test_shrink_under_a_view_is_a_postponed_economy() -> None:
    def scenario(manager: Callable[..., BufferManager]) -> list[Any]:
        mgr = manager(None, read_size=8)
        read_with_rule(OneRead(b"ab"), mgr, until_delim(b"\n"))
        with mgr.view():
            steps = [outcome(mgr.shrink)]
        return [*steps, outcome(mgr.shrink), len(mgr)]

    same_on_both(scenario)


def test_the_end_of_an_empty_stream_under_a_view_for_a_custom_rule() -> None:
    def scenario(manager: Callable[..., BufferManager]) -> list[Any]:
        mgr = manager(None, read_size=4)
        ended = outcome(lambda: read_with_rule(OneRead(b""), mgr, until_delim(b"\n")))
        with mgr.view():
            return [ended, outcome(lambda: mgr.next_frame(custom(ieee_block())))]

    same_on_both(scenario)


def test_reserve_checks_its_size_before_bytes_waiting() -> None:
    def scenario(manager: Callable[..., BufferManager]) -> list[Any]:
        mgr = manager(None)
        with mgr.view():
            mgr.feed(b"waiting")
            return [outcome(lambda: mgr.reserve(0)), len(mgr)]

    same_on_both(scenario)


def test_until_any_with_no_complete_delimiter_discards_alike() -> None:
    """No complete delimiter: resume where a delimiter could still start (not at the earliest
    partial one), which is what discard mode drops up to."""

    def scenario(manager: Callable[..., BufferManager]) -> list[Any]:
        mgr = manager(2, on_overflow="discard")
        mgr.feed(b"99")
        rule = until_any((b"#", b"90\x02"))
        return [outcome(lambda: mgr.next_frame(rule)), len(mgr)]

    same_on_both(scenario)


def test_a_declared_size_beyond_any_int_is_refused_every_time() -> None:
    def huge(buffer: bytearray, scan: int) -> RuleResult:
        return NeedMore(len(buffer), frame_size=1 << 70)

    def scenario(manager: Callable[..., BufferManager]) -> list[Any]:
        mgr = manager(None)
        mgr.feed(b"abc")
        return [outcome(lambda: mgr.next_frame(huge)) for _ in range(2)]

    same_on_both(scenario)


def test_drain_with_a_new_delimiter_rule_leaves_the_tail_for_the_next_call() -> None:
    def scenario(manager: Callable[..., BufferManager]) -> list[Any]:
        mgr = manager(None, on_eof="frame")
        mgr.feed(b"\n\n\r")
        mgr.feed_eof()
        return [outcome(lambda: mgr.drain(until_delim(b"\n"))) for _ in range(3)]

    same_on_both(scenario)


def test_the_last_frame_at_the_end_is_what_was_admitted() -> None:
    """A partial frame read under a larger max_size, then the stream ends: with on_eof="frame"
    it is the last frame, whatever max_size says now."""

    def scenario(manager: Callable[..., BufferManager]) -> list[Any]:
        mgr = manager(None, on_eof="frame")
        mgr.feed(b"abc")
        mgr.feed_eof()
        mgr.max_size = 1
        return [outcome(lambda: mgr.drain(until_delim(b"\n"))), len(mgr)]

    same_on_both(scenario)


def test_discard_reaches_into_bytes_waiting_behind_a_view() -> None:
    def scenario(manager: Callable[..., BufferManager]) -> list[Any]:
        mgr = manager(None)
        mgr.feed(b"ab")
        with mgr.view():
            mgr.feed(b"cd" * 4096)
            steps = [outcome(lambda: mgr.discard(3)), len(mgr)]
        return [*steps, bytes(mgr.view())[:3]]

    same_on_both(scenario)
