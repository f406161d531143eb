"""The hostile-callback target's scripts and callbacks (see hostile.py): what a script is, how it
is decoded from the fuzzer's input, and the callbacks a :class:`Callbacks` player hands a core
(rules, read functions, result fields, ``__eq__``), each running the script's effects.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Callable

from _harness import Choices, ManagerType

from streamframer import FrameSpan, NeedMore, Skip, StreamFramerError

__all__ = [
    "ALPHABET", "DOCUMENTED", "FOREIGN", "LIMITS", "Call", "Callbacks", "Hostile", "Script",
    "Source", "Step", "decode", "describe", "summary", "undocumented",
]  # fmt: skip

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
    "feed_eof", "eq_buffer", "eq_object", "frame_view", "tobytes", "kept", "kept", "gc", "views",
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


class Callbacks:
    """What a hostile program holds (the manager, frames, views, what callbacks kept) and the
    callbacks it hands the core, each running the script's effects; ``hostile.Player`` plays
    the steps."""

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
        self.manager_views = 0  # of the views, how many view() gave (not a frame)
        self.under_view: list[bool] = []  # for each step played, whether one was alive
        self.reserved: memoryview | None = None
        self.filled = b""  # what was written into the reservation, until commit() keeps it
        self.filled_at = 0  # where in the offered bytes the reservation stands
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
            self.fill_reserved(b"")
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
            self.manager_views += 1
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
            kind = call.answer
            if kind in ("count", "index"):  # the bytes this read says it delivered
                player.offered += data
            player.trace.append(("read", len(view) > 0))
            player._effects(call, view)
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

    def fill_reserved(self, data: bytes) -> None:
        """Write the whole reserved view, ``data`` first: bytes committed without being written
        are zeros by contract, which the check below would take for memory never offered. They
        count as offered once committed (:meth:`committed`)."""
        view = self.reserved
        assert view is not None
        self.filled = (data + b"y" * len(view))[: len(view)]
        self.filled_at = len(self.offered)
        view[:] = self.filled

    def committed(self, count: int) -> None:
        """``count`` bytes of the reservation were kept: offered where they stand in the stream,
        before whatever was fed while the reservation waited for its commit()."""
        if 0 < count <= len(self.filled):
            self.offered[self.filled_at : self.filled_at] = self.filled[:count]
        self.filled = b""

    def _payload(self, payload: bytes) -> bytes:
        """``payload``, checked to hold only bytes offered to the manager."""
        if not self.mutated and payload not in self.offered:
            self.problems.append(f"{self.core} core: a frame of bytes never offered")
        return payload

    # The steps


def undocumented(outcome: object) -> Iterator[str]:
    """The undocumented errors an outcome holds, by name."""
    if isinstance(outcome, tuple):
        if outcome[:1] == ("UNDOCUMENTED",):
            yield outcome[1]
        else:
            for item in outcome:
                yield from undocumented(item)


class _SpanSubclass(FrameSpan):
    pass


class Source:
    """A socket double whose ``recv_into`` is a hostile read function."""

    def __init__(self, read_into: Callable[..., Any]) -> None:
        self.recv_into = read_into


def _line(snapshot: bytes, scan: int) -> Any:
    """The honest answer: frames ended by LF."""
    end = snapshot.find(b"\n", min(max(scan, 0), len(snapshot)))
    if end < 0:
        return NeedMore(len(snapshot))
    return FrameSpan(0, end, end + 1)
