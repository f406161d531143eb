"""Fuzz target: hostile callbacks, on both cores, the pure one the oracle.

Every place the core calls Python code is played against it: custom rules that keep, shrink,
grow or clear the bytearray they are given, call back into the manager (feed, clear, consume,
next_frame, reserve, commit, discard, drain, _fill, view, max_size, feed_eof), run
``gc.collect()``, raise, or answer with results whose fields run code (``__index__``, an int
subclass's comparisons) or are odd (wrong tuple sizes through ``tuple.__new__``, subclasses,
plain tuples, floats, huge and negative ints); rules whose ``__eq__`` re-enters during a rule
switch; read functions for ``_fill`` and sources for ``read_with_rule`` that keep the view they
are given, write through it later, re-enter or answer oddly; ``max_size`` changed from inside
a call; frames compared with objects whose ``__buffer__`` (3.12+) or ``__eq__`` re-enters.

Checked, on each core: no crash and no sanitizer report (the process dies otherwise); only
documented errors escape (streamframer's own, ``ValueError``, ``TypeError``, ``BufferError``,
or the callback's own exception); every frame and payload holds only bytes that were offered
to the manager (a substring of them: the stream's alphabet has no ``0x00`` and no ``0xee``,
the bytes a rule appends, so zero-filled or foreign memory shows); and the compiled core gives
what the pure one gives, step by step, callbacks' own outcomes included.

Run:
    python fuzz/hostile.py -max_total_time=600 [corpus directory]   # atheris
    python fuzz/hostile.py --seeds 0-299                   # no atheris: a subprocess per seed
    python fuzz/hostile.py --seed 17                       # one seed, in this process, verbose
    python fuzz/replay.py hostile crash-<sha1>             # a saved input
"""

from __future__ import annotations

import gc
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Callable

from _harness import Choices, ManagerType, cores, fuzz

from streamframer import FrameSpan, NeedMore, Skip, StreamFramerError, read_with_rule

__all__ = ["check", "play"]

DOCUMENTED = (StreamFramerError, ValueError, TypeError, BufferError)
ALPHABET = b"\n\nab\n0123456789#xyz\r\n"  # no 0x00, no 0xee: what was never offered shows
FOREIGN = 0xEE


class Hostile(Exception):
    """What a callback raises on purpose: it must come out of the call as it went in."""


# ------------------------------------------------------------------------------------------
# Scripts

# Side effects a callback runs before it answers: on the buffer it was given, or on the
# manager (re-entry), or on the interpreter.
EFFECTS = (
    "keep", "keep", "truncate", "delfront", "clear", "extend",
    "feed", "mgr_clear", "consume", "next_frame", "reserve", "commit", "discard", "drain",
    "fill", "view", "max_size", "feed_eof", "gc", "len",
)  # fmt: skip
# How a rule answers.
ANSWERS = (
    "honest", "honest", "honest", "index", "intsub", "raise",
    "empty", "short", "long", "subclass", "tuple", "none", "float", "huge", "negative",
    "huge_need", "huge_skip", "bool", "skip",
)  # fmt: skip
# How a read function answers.
READ_ANSWERS = ("count", "count", "count", "index", "huge", "negative", "none", "float", "raise")
OPS = (
    *("feed",) * 4, *("next_frame",) * 5, *("consume",) * 2, "drain", "reserve", "commit",
    "fill", "fill", "read", "clear", "discard", "shrink", "view", "release", "max_size",
    "feed_eof", "eq_buffer", "eq_object", "frame_view", "tobytes", "kept", "kept", "gc",
    "switch",
)  # fmt: skip
LIMITS = (None, 1, 3, 8, 16, 64, 1000, 2**62, 2**70)


@dataclass(frozen=True)
class Call:
    """What one call of a callback does: its side effects, then its answer."""

    effects: tuple[str, ...]
    answer: str
    n: int


@dataclass(frozen=True)
class Step:
    op: str
    data: bytes = b""
    n: int = 0
    rule: int = 0
    calls: tuple[Call, ...] = ()  # of the callbacks this step runs, in order; then honest


@dataclass(frozen=True)
class Script:
    max_size: int | None
    read_size: int
    on_overflow: str
    on_eof: str
    steps: tuple[Step, ...] = field(default=())


def decode(choices: Choices, longest: int = 60) -> Script:
    script = Script(
        choices.pick((None, 8, 32, 1000, 2**20)),
        choices.pick((1, 4, 64, 4096)),
        choices.pick(("error", "discard")),
        choices.pick(("raise", "frame")),
    )
    steps = []
    while not choices.exhausted and len(steps) < longest:
        op = choices.pick(OPS)
        calls = tuple(_call(choices, op) for _ in range(choices.below(3)))
        data = bytes(ALPHABET[byte % len(ALPHABET)] for byte in choices.blob(choices.below(12)))
        steps.append(Step(op, data, choices.below(256), choices.below(3), calls))
    return Script(
        script.max_size, script.read_size, script.on_overflow, script.on_eof, tuple(steps)
    )


def _call(choices: Choices, op: str) -> Call:
    effects = tuple(choices.pick(EFFECTS) for _ in range(choices.below(3)))
    answers = READ_ANSWERS if op in ("fill", "read") else ANSWERS
    return Call(effects, choices.pick(answers), choices.below(256))


# ------------------------------------------------------------------------------------------
# One core playing a script


def describe(exc: BaseException) -> tuple[str, ...]:
    if isinstance(exc, (Hostile, *DOCUMENTED)):
        return ("raise", type(exc).__name__)
    return ("UNDOCUMENTED", type(exc).__name__, str(exc)[:100])


def summary(value: object) -> object:
    """``value`` as data two cores can be compared by (no addresses)."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, tuple):
        return tuple(summary(item) for item in value)
    return f"<{type(value).__name__}>"


class Player:
    """Runs a script on one core's manager, holding what a hostile program holds."""

    def __init__(self, core: ManagerType, script: Script) -> None:
        self.script = script
        self.core = "pure" if core.__module__.startswith("streamframer._core._pure") else "compiled"
        self.mgr = core(
            script.max_size,
            read_size=script.read_size,
            on_overflow=script.on_overflow,
            on_eof=script.on_eof,
        )
        self.offered = bytearray()  # every byte handed to the manager, in order
        self.frames: list[Any] = []
        self.kept: list[Any] = []  # bytearrays and views callbacks kept
        self.views: list[memoryview] = []
        self.reserved: memoryview | None = None
        self.trace: list[tuple[Any, ...]] = []  # what the callbacks saw, in order
        self.calls: list[Call] = []
        self.rules = [self._rule(number) for number in range(3)]
        self.depth = 0
        self.switching: Call | None = None
        # Once a callback changed a buffer the core lent it, the pure core's own bytes may have
        # changed (a contract breach it does not refuse): frames are compared, not checked.
        self.mutated = False
        #: Broken invariants seen, first one first: undocumented errors, foreign frames.
        self.problems: list[str] = []

    # The callbacks

    def _next_call(self) -> Call | None:
        return self.calls.pop(0) if self.calls else None

    def _effects(self, call: Call, buffer: Any = None) -> None:
        for effect in call.effects:
            try:
                result = self._effect(effect, call.n, buffer)
            except Hostile:
                raise
            except BaseException as exc:
                result = describe(exc)
            self.trace.append((effect, result))

    def _effect(self, effect: str, n: int, buffer: Any) -> object:
        mgr = self.mgr
        if effect in ("keep", "truncate", "delfront", "clear", "extend"):
            if buffer is None:
                return "no buffer"
            if isinstance(buffer, memoryview):  # a read's view: kept, or written through later
                if effect == "keep":
                    self.kept.append(buffer)
                return len(buffer)
            if effect == "keep":
                self.kept.append(buffer)
                return len(buffer)
            self.mutated = True
            if effect == "truncate":
                del buffer[n % (len(buffer) + 1) :]
            elif effect == "delfront":
                del buffer[: n % (len(buffer) + 1)]
            elif effect == "clear":
                buffer.clear()
            else:
                buffer += bytes([FOREIGN]) * (n % 9)
            return len(buffer)
        if self.depth > 1:
            return "deep"
        self.depth += 1
        try:
            return self._reenter(effect, n, mgr)
        finally:
            self.depth -= 1

    def _reenter(self, effect: str, n: int, mgr: Any) -> object:
        if effect == "feed":
            data = b"r%d\n" % n
            mgr.feed(data)
            self.offered += data
        elif effect == "mgr_clear":
            mgr.clear()
        elif effect == "consume":
            for frame in self.frames[-2:]:
                frame.consume()
        elif effect == "next_frame":
            frame = mgr.next_frame(self.rules[n % 3])
            if frame is not None:
                self.frames.append(frame)
                return self._payload(frame.tobytes())
        elif effect == "reserve":
            self.reserved = view = mgr.reserve(n % 5 or None)
            return len(view)
        elif effect == "commit":
            mgr.commit(0)
        elif effect == "discard":
            mgr.discard(n % 3)
        elif effect == "drain":
            return tuple(self._payload(p) for p in mgr.drain(self.rules[n % 3]))
        elif effect == "fill":
            return mgr._fill(self._reader())
        elif effect == "view":
            self.views.append(mgr.view())
        elif effect == "max_size":
            mgr.max_size = LIMITS[n % len(LIMITS)]
        elif effect == "feed_eof":
            mgr.feed_eof()
        elif effect == "gc":
            return gc.collect() >= 0
        elif effect == "len":
            return len(mgr)
        return "ok"

    def _rule(self, number: int) -> Callable[..., Any]:
        player = self

        class HostileRule:
            """A custom rule framing lines, hostile by the script; equal to rules of its own
            number, and its ``__eq__`` (called on a rule switch) runs a call's effects."""

            def __call__(self, buffer: bytearray, scan: int) -> Any:
                call = player._next_call()
                snapshot = bytes(buffer)
                if call is None:
                    return _line(snapshot, scan)
                player.trace.append(("rule", number, len(snapshot), scan))
                player._effects(call, buffer)
                return player._answer(call, snapshot, scan)

            def __eq__(self, other: object) -> bool:
                if not isinstance(other, HostileRule):
                    return False
                if player.switching:  # a rule switch: effects in place of the first call's
                    player.trace.append(("eq", number, other.number))
                    player._effects(player.switching)
                    player.switching = None
                return other.number == self.number

            def __hash__(self) -> int:
                return number

            number = 0

            def __repr__(self) -> str:
                return f"HostileRule({number})"

        rule = HostileRule()
        rule.number = number
        return rule

    def _answer(self, call: Call, snapshot: bytes, scan: int) -> Any:
        kind, honest = call.answer, _line(snapshot, scan)
        if kind == "honest":
            return honest
        if kind == "raise":
            raise Hostile("a rule raised")
        if kind in ("index", "intsub"):
            wrap = self._index if kind == "index" else self._intsub
            return type(honest)(*(wrap(field, call) for field in honest))
        if kind == "skip":
            return Skip(1 + call.n % max(1, len(snapshot))) if snapshot else honest
        odd: dict[str, Callable[[], Any]] = {
            "empty": lambda: tuple.__new__(FrameSpan, ()),
            "short": lambda: tuple.__new__(FrameSpan, (0, 1)),
            "long": lambda: tuple.__new__(NeedMore, (0, None, 5)),
            "subclass": lambda: _SpanSubclass(*honest) if type(honest) is FrameSpan else honest,
            "tuple": lambda: tuple(honest),
            "none": lambda: None,
            "float": lambda: type(honest)(*(float(x) if x is not None else x for x in honest)),
            "huge": lambda: FrameSpan(0, 2**70, 2**70),
            "negative": lambda: FrameSpan(-(2**63), 0, 1),
            "huge_need": lambda: NeedMore(0, 2**64),
            "huge_skip": lambda: Skip(2**63),
            "bool": lambda: FrameSpan(False, True, True),
        }
        return odd.get(kind, lambda: honest)()

    def _index(self, value: Any, call: Call) -> Any:
        if value is None:
            return None
        player = self

        class Index:
            def __index__(self) -> int:
                player.trace.append(("index", value))
                player._effects(call)
                return int(value)

        return Index()

    def _intsub(self, value: Any, call: Call) -> Any:
        if value is None:
            return None
        player = self

        class Int(int):
            def __index__(self) -> int:
                player._effects(call)
                return int(value)

            def __le__(self, other: object) -> bool:
                player._effects(call)
                return int(self) <= other  # type: ignore[operator]

        return Int(value)

    def _reader(self) -> Callable[[memoryview], Any]:
        """A read function (for ``_fill``) or a source's ``recv_into``, hostile by the script."""
        player = self

        def read_into(view: memoryview, *args: Any) -> Any:
            call = player._next_call() or Call((), "count", 0)
            data = bytes(ALPHABET[(call.n + i) % len(ALPHABET)] for i in range(call.n % 7 + 1))
            data = data[: len(view)]
            view[: len(data)] = data
            player.offered += data
            player.trace.append(("read", len(view) > 0))
            player._effects(call, view)
            kind = call.answer
            answers: dict[str, Callable[[], Any]] = {
                "count": lambda: len(data),
                "index": lambda: player._index(len(data), call),
                "huge": lambda: 2**70,
                "negative": lambda: -1,
                "none": lambda: None,
                "float": lambda: float(len(data)),
            }
            if kind == "raise":
                raise Hostile("a read raised")
            return answers.get(kind, answers["count"])()

        return read_into

    def _payload(self, payload: bytes) -> bytes:
        """``payload``, checked to hold only bytes offered to the manager."""
        if not self.mutated and payload not in self.offered:
            self.problems.append(f"{self.core} core: a frame of bytes never offered")
        return payload

    # The steps

    def play(self, step: Step) -> tuple[Any, ...]:
        self.calls = list(step.calls)
        self.trace = []
        try:
            result: Any = getattr(self, "_" + step.op)(step)
        except BaseException as exc:
            result = describe(exc)
        outcome = (step.op, summary(result), summary(tuple(self.trace)))
        for name in _undocumented(outcome):
            self.problems.append(f"{self.core} core, {step.op}: undocumented {name}")
        return outcome

    def _feed(self, step: Step) -> object:
        self.mgr.feed(step.data)
        self.offered += step.data
        return len(self.mgr)

    def _took(self, frame: Any) -> object:
        if frame is None:
            return None
        self.frames.append(frame)
        return self._payload(frame.tobytes())

    def _next_frame(self, step: Step) -> object:
        return self._took(self.mgr.next_frame(self.rules[step.rule]))

    def _switch(self, step: Step) -> object:
        # A rule's __eq__ runs on a switch: the first call's effects, before any rule call.
        self.switching = step.calls[0] if step.calls else Call(("feed",), "honest", 0)
        try:
            return self._took(self.mgr.next_frame(self.rules[(step.rule + 1) % 3]))
        finally:
            self.switching = None

    def _consume(self, step: Step) -> object:
        if not self.frames:
            return None
        self.frames[-1 - step.n % len(self.frames)].consume()
        return len(self.mgr)

    def _drain(self, step: Step) -> object:
        return tuple(self._payload(p) for p in self.mgr.drain(self.rules[step.rule]))

    def _reserve(self, step: Step) -> object:
        size = (
            None,
            step.n % 5 + 1,
            2**63 - 1,
            2**70,
            self._index(step.n % 5 + 1, Call((), "", 0)),
        )
        self.reserved = view = self.mgr.reserve(
            size[step.rule + step.n % 3 - 1 if step.n % 3 else 0]
        )
        written = step.data[: len(view)]
        view[: len(written)] = written
        self.offered += written
        return len(view)

    def _commit(self, step: Step) -> object:
        count: Any = step.n % 4
        if step.calls:
            count = self._index(count, step.calls[0])
        self.mgr.commit(count)
        return len(self.mgr)

    def _fill(self, step: Step) -> object:
        return self.mgr._fill(self._reader())

    def _read(self, step: Step) -> object:
        source = _Source(self._reader())
        return self._took(read_with_rule(source, self.mgr, self.rules[step.rule]))

    def _clear(self, step: Step) -> object:
        self.mgr.clear()
        return len(self.mgr)

    def _discard(self, step: Step) -> object:
        self.mgr.discard(step.n % (len(self.mgr) + 2))
        return len(self.mgr)

    def _shrink(self, step: Step) -> object:
        self.mgr.shrink()
        return len(self.mgr)

    def _view(self, step: Step) -> object:
        view = self.mgr.view()
        self.views.append(view)
        return self._payload(view.tobytes())

    def _release(self, step: Step) -> object:
        for view in self.views:
            view.release()
        self.views.clear()
        if self.reserved is not None:
            self.reserved.release()
        return len(self.mgr)

    def _max_size(self, step: Step) -> object:
        self.mgr.max_size = LIMITS[step.n % len(LIMITS)]
        return self.mgr.max_size

    def _feed_eof(self, step: Step) -> object:
        self.mgr.feed_eof()
        return len(self.mgr)

    def _eq_buffer(self, step: Step) -> object:
        if not self.frames:
            return None
        frame, player = self.frames[-1], self
        data = frame.tobytes() if step.n % 2 else step.data
        call = step.calls[0] if step.calls else Call(("consume",), "honest", 0)

        class Exporter:
            def __buffer__(self, flags: int) -> memoryview:
                player._effects(call)
                return memoryview(data)

        return frame == Exporter()

    def _eq_object(self, step: Step) -> object:
        if not self.frames:
            return None
        player, call = self, step.calls[0] if step.calls else Call(("mgr_clear",), "honest", 0)

        class Other:
            def __eq__(self, other: object) -> bool:
                player._effects(call)
                return False

            __hash__ = None  # type: ignore[assignment]

        return self.frames[-1] == Other()

    def _frame_view(self, step: Step) -> object:
        if not self.frames:
            return None
        view = self.frames[-1].view
        self.views.append(view)
        return self._payload(view.tobytes())

    def _tobytes(self, step: Step) -> object:
        if not self.frames:
            return None
        frame = self.frames[-1 - step.n % len(self.frames)]
        return (frame.consumed, self._payload(frame.tobytes()) if not frame.consumed else None)

    def _kept(self, step: Step) -> object:
        """Use what a callback kept, after its call: shrink, grow, clear or write through it."""
        done = []
        self.mutated = self.mutated or bool(self.kept)
        for kept in self.kept:
            try:
                if isinstance(kept, memoryview):
                    if len(kept) and not kept.readonly:
                        kept[0] = FOREIGN
                    done.append(("view", len(kept)))
                elif step.n % 3 == 0:
                    kept.clear()
                elif step.n % 3 == 1:
                    kept += bytes([FOREIGN]) * 64
                else:
                    del kept[: step.n % 5]
                done.append(("kept", len(kept)))
            except BaseException as exc:
                done.append(describe(exc))
        return tuple(done)

    def _gc(self, step: Step) -> object:
        if step.n % 2:
            self.frames.clear()
            self.kept.clear()
        return gc.collect() >= 0


def _undocumented(outcome: object) -> Iterator[str]:
    """The undocumented errors an outcome holds, by name."""
    if isinstance(outcome, tuple):
        if outcome[:1] == ("UNDOCUMENTED",):
            yield outcome[1]
        else:
            for item in outcome:
                yield from _undocumented(item)


class _SpanSubclass(FrameSpan):
    pass


class _Source:
    def __init__(self, read_into: Callable[..., Any]) -> None:
        self.recv_into = read_into


def _line(snapshot: bytes, scan: int) -> Any:
    """The honest answer: frames ended by LF."""
    end = snapshot.find(b"\n", min(max(scan, 0), len(snapshot)))
    if end < 0:
        return NeedMore(len(snapshot))
    return FrameSpan(0, end, end + 1)


# ------------------------------------------------------------------------------------------
# The target and the drivers


def play(data: bytes, core: ManagerType) -> tuple[list[tuple[Any, ...]], list[str]]:
    """The outcome of every step of the script in ``data`` on ``core``, and the broken
    invariants seen."""
    script = decode(Choices(data))
    player = Player(core, script)
    outcomes = [player.play(step) for step in script.steps]
    outcomes.append(player.play(Step("release")))
    gc.collect()
    return outcomes, player.problems


def check(data: bytes) -> None:
    """Plays the script in ``data`` on each core, then raises for the first broken invariant
    (on the pure core, then the compiled one), or else the first step where they differ."""
    runs = [play(data, core) for core in cores()]
    problems = [problem for _, found in runs for problem in found]
    assert not problems, problems[0]
    (expected, _), *others = runs
    for got, _ in others:
        for number, (want, have) in enumerate(zip(expected, got)):
            assert have == want, f"cores differ at step {number}: pure {want!r}, compiled {have!r}"


def seed_input(seed: int, size: int = 400) -> bytes:
    return random.Random(seed).randbytes(size)


def run_seeds(seeds: list[int], timeout: float) -> int:
    """Each seed in an interpreter of its own: a crash or a hang ends that seed only."""
    failed: dict[str, list[int]] = {}
    for seed in seeds:
        try:
            done = subprocess.run(
                [sys.executable, __file__, "--seed", str(seed), "--quiet"],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            failed.setdefault("hang", []).append(seed)
            continue
        if done.returncode < 0:
            # A sanitizer's report ends with its summary: the kind of bug and where.
            reports = [line for line in done.stderr.splitlines() if "SUMMARY:" in line]
            what = f"signal {-done.returncode}" + (f": {reports[-1][:100]}" if reports else "")
            failed.setdefault(what, []).append(seed)
        elif done.returncode:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            failed.setdefault(re.sub(r"step \d+", "step N", last)[:120], []).append(seed)
    for what, which in sorted(failed.items(), key=lambda item: -len(item[1])):
        print(f"{len(which):4d} seeds  {what}\n      {which[:20]}")
    print(f"hostile: {sum(map(len, failed.values()))} of {len(seeds)} seeds failed")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--seeds":
        low, _, high = argv[1].partition("-")
        timeout = float(argv[2]) if len(argv) > 2 else 60.0
        return run_seeds(list(range(int(low), int(high or low) + 1)), timeout)
    if argv and argv[0] == "--seed":
        data = seed_input(int(argv[1]))
        if "--quiet" not in argv:
            for step in decode(Choices(data)).steps:
                print(step)
        check(data)
        return 0
    fuzz(check)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
