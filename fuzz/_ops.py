"""Operation sequences on a BufferManager, for the ``manager`` and ``differential`` targets.

A script, decoded from the fuzzer's input, is a manager's settings, one or two rules and a list
of operations: everything a program does with a manager, in any order, misuse included. A
:class:`Player` runs them on one manager, holding what a program would hold (the outstanding
frame, the last consumed one, views of frames and of the buffer, a reservation), and describes
each result as an :data:`~_harness.Outcome`: two players, one per core, are compared outcome by
outcome, and one player is checked against a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from _harness import (
    ALPHABET,
    Choices,
    Custom,
    ManagerType,
    Outcome,
    build_rule,
    describe_error,
    markers_of,
    rule_factories,
    stream,
)

from streamframer import (
    Frame,
    FrameLifecycleError,
    Rule,
    StreamFramerError,
    read_with_rule,
    until_delim,
)

__all__ = ["Op", "Player", "Script", "decode_script"]

# Operation names, repeated by how often they should come. The end of the stream is rare: every
# operation after it meets a closed stream.
_OPS = (
    *("feed",) * 4,
    *("next_frame",) * 4,
    *("consume",) * 2,
    "with_frame",
    "frame_view",
    "release",
    "manager_view",
    *("drain",) * 2,
    "reserve",
    "commit",
    "clear",
    "discard",
    "shrink",
    "max_size",
    *("read",) * 2,
    "inspect",
    "feed_eof",
)
_LIMITS = (None, None, 1, 2, 3, 5, 8, 16, 32, 100, 1000)


@dataclass(frozen=True)
class Op:
    name: str
    rule: int = 0  # which of the script's rules
    data: bytes = b""
    a: int = 0
    b: int = 0
    flag: bool = False
    limit: Optional[int] = None  # noqa: UP045 - dataclass fields are evaluated on 3.9


@dataclass(frozen=True)
class Script:
    max_size: Optional[int]  # noqa: UP045
    read_size: int
    on_overflow: str
    on_eof: str
    rules: tuple[Rule, ...]
    ops: tuple[Op, ...] = field(default=())


def decode_script(choices: Choices, longest: int = 200) -> Script:
    """A script from the fuzzer's input: settings, rules, then operations until the input
    ends (``longest`` at most)."""
    max_size = choices.pick(_LIMITS)
    read_size = choices.pick((1, 3, 16, 256, 65536))
    on_overflow = choices.pick(("error", "discard"))
    on_eof = choices.pick(("raise", "frame"))
    rules = tuple(_rule(choices) for _ in range(choices.between(1, 2)))
    alphabet = b"".join(markers_of(rule) for rule in rules) + ALPHABET
    ops: list[Op] = []
    while not choices.exhausted and len(ops) < longest:
        name = choices.pick(_OPS)
        ops.append(
            Op(
                name,
                rule=choices.below(len(rules)),
                data=stream(choices, alphabet, longest=16) if name in _DATA_OPS else b"",
                a=choices.between(0, 40),
                b=choices.between(0, 40),
                flag=choices.flag(),
                limit=choices.pick((*_LIMITS, 0)) if name == "max_size" else None,
            )
        )
    return Script(max_size, read_size, on_overflow, on_eof, rules, tuple(ops))


_DATA_OPS = ("feed", "reserve", "read")


def _rule(choices: Choices) -> Rule:
    factories = rule_factories()
    rule = build_rule(choices, factories[choices.pick(sorted(factories))])
    if rule is None:
        rule = until_delim(b"\n")
    return Custom(rule) if choices.flag() else rule


class _Source:
    """A socket double that delivers one read: bytes (as many as fit), the end of the stream,
    or "would block"; through ``recv_into`` or, for a copying source, ``recv``."""

    def __init__(self, data: bytes | None, into: bool, most: int | None = None) -> None:
        self.data = data if data is None or most is None else data[:most]
        self.delivered = b""
        if into:
            self.recv_into = self._recv_into
        else:
            self.recv = self._recv

    def _take(self, size: int) -> bytes:
        if self.data is None:
            raise BlockingIOError
        self.delivered, self.data = self.data[:size], b""
        return self.delivered

    def _recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:
        data = self._take(min(nbytes or len(buffer), len(buffer)))
        buffer[: len(data)] = data
        return len(data)

    def _recv(self, size: int, flags: int = 0) -> bytes:
        return self._take(size)


class Player:
    """Runs a script's operations on one manager, holding what a program would hold."""

    def __init__(
        self, manager: ManagerType, script: Script, read_at_most: int | None = None
    ) -> None:
        self.script = script
        #: The most bytes one read delivers (None: as many as the core's view takes).
        self.read_at_most = read_at_most
        self.mgr = manager(
            script.max_size,
            read_size=script.read_size,
            on_overflow=script.on_overflow,
            on_eof=script.on_eof,
        )
        self.frame: Frame | None = None  # outstanding
        self.stale: Frame | None = None  # the last one consumed
        #: Views held, with their content when taken: it must never change.
        self.views: list[tuple[memoryview, bytes]] = []
        self.reserved_size = 0
        self.reserved: memoryview | None = None
        self.written = b""  # what was written into the reservation
        #: Bytes that entered the manager in the last operation (feed, commit, read).
        self.received = b""

    def play(self, op: Op) -> Outcome:
        self.received = b""
        try:
            return getattr(self, "_" + op.name)(op)  # type: ignore[no-any-return]
        except StreamFramerError as exc:
            return describe_error(exc)
        except (ValueError, TypeError) as exc:
            return ("bad argument", *describe_error(exc)[1:])

    def state(self) -> Outcome:
        """What a program can see of the manager between operations."""
        self.check_views()
        frame = None if self.frame is None else (self.frame.consumed, _size(self.frame))
        return (len(self.mgr), self.mgr.skipped, self.mgr.at_eof, self.mgr.max_size, frame)

    def check_views(self) -> None:
        """Nothing a program holds ever changes under it: no byte moves under a live view."""
        for view, content in self.views:
            assert view.tobytes() == content, (view.tobytes(), content)

    def finish(self) -> bytes:
        """Let go of everything held, then return the bytes left in the buffer."""
        for view, _ in self.views:
            view.release()
        self.views.clear()
        if self.reserved is not None:
            self.mgr.commit(0)
        if self.frame is not None and not self.frame.consumed:
            self.frame.consume()
        with self.mgr.view() as view:
            return view.tobytes()

    # The operations; each returns its Outcome.

    def _feed(self, op: Op) -> Outcome:
        self.mgr.feed(op.data)
        self.received = op.data
        return ("ok",)

    def _feed_eof(self, op: Op) -> Outcome:
        self.mgr.feed_eof()
        return ("ok",)

    def _next_frame(self, op: Op) -> Outcome:
        frame = self.mgr.next_frame(self.script.rules[op.rule])
        return self._took(frame)

    def _took(self, frame: Frame | None) -> Outcome:
        if frame is None:
            return ("none",)
        self.frame = frame
        return ("frame", frame.tobytes(), len(frame))

    def _held(self, op: Op) -> Frame | None:
        """The frame an operation acts on: the outstanding one, or (``op.flag``) the stale one."""
        return self.stale if op.flag or self.frame is None else self.frame

    def _consume(self, op: Op) -> Outcome:
        frame = self._held(op)
        if frame is None:
            return ("nothing",)
        frame.consume()
        self._consumed(frame)
        return ("ok",)

    def _with_frame(self, op: Op) -> Outcome:
        frame = self._held(op)
        if frame is None:
            return ("nothing",)
        with frame:
            pass  # consumed on exit, unless it was already
        self._consumed(frame)
        return ("ok",)

    def _consumed(self, frame: Frame) -> None:
        """``frame`` is consumed: it is the stale one now, and no longer outstanding (if it
        was the outstanding one: consuming the stale one again leaves that one as it is)."""
        if frame is self.frame:
            self.frame = None
        self.stale = frame

    def _frame_view(self, op: Op) -> Outcome:
        frame = self._held(op)
        if frame is None:
            return ("nothing",)
        return self._hold(frame.view[op.a : op.a + op.b])

    def _manager_view(self, op: Op) -> Outcome:
        return self._hold(self.mgr.view()[op.a :])

    def _hold(self, view: memoryview) -> Outcome:
        content = view.tobytes()
        self.views.append((view, content))
        return ("view", content)

    def _release(self, op: Op) -> Outcome:
        if not self.views:
            return ("nothing",)
        view, _ = self.views.pop(op.a % len(self.views))
        view.release()
        return ("ok",)

    def _drain(self, op: Op) -> Outcome:
        return ("drained", *self.mgr.drain(self.script.rules[op.rule]))

    def _reserve(self, op: Op) -> Outcome:
        # size: None (the adaptive read size), or op.a, 0 included (refused as a bad argument)
        view = self.mgr.reserve(None if op.flag else op.a)
        self.reserved = view
        self.reserved_size = len(view)
        self.written = op.data[: len(view)]
        view[: len(self.written)] = self.written
        if op.b & 1:
            view.release()  # as ``with mgr.reserve() as view:`` does
        return ("reserved", len(view))

    def _commit(self, op: Op) -> Outcome:
        # Bytes reserved but never written hold nothing defined: what was written, or more
        # than was reserved (a bad argument).
        count = self.reserved_size + 1 + op.a if op.flag else min(op.a, len(self.written))
        self.mgr.commit(count)
        self.received, self.written, self.reserved = self.written[:count], b"", None
        return ("ok",)

    def _clear(self, op: Op) -> Outcome:
        self.mgr.clear()
        return ("ok",)

    def _discard(self, op: Op) -> Outcome:
        # Mostly within what is buffered; sometimes one more (a bad argument).
        self.mgr.discard(op.a % (len(self.mgr) + 2))
        return ("ok",)

    def _shrink(self, op: Op) -> Outcome:
        self.mgr.shrink()
        return ("ok",)

    def _max_size(self, op: Op) -> Outcome:
        self.mgr.max_size = op.limit  # 0 is a bad argument
        return ("ok",)

    def _read(self, op: Op) -> Outcome:
        kind = op.b % 4
        data = None if kind == 3 else b"" if kind == 2 else op.data
        source = _Source(data, op.flag, self.read_at_most)
        try:
            frame = read_with_rule(source, self.mgr, self.script.rules[op.rule])
        finally:
            self.received = source.delivered
        return (*self._took(frame), source.delivered)

    def _inspect(self, op: Op) -> Outcome:
        frame = self._held(op)
        if frame is None:
            return ("nothing", repr(self.mgr))
        payload = frame.tobytes()
        return (frame.consumed, payload, len(frame), frame == payload, repr(frame))


def _size(frame: Frame) -> object:
    """A frame's size, or "ended" for one that clear() or discard() ended unconsumed."""
    try:
        return len(frame)
    except FrameLifecycleError:
        return "ended"
