"""What the fuzz targets share: choices read from the fuzzer's bytes, the rule catalog, the two
cores, and the entry point that hands a target to atheris.

Every target is a function ``check(data: bytes) -> None`` that returns quietly or raises: an
``AssertionError`` when an invariant breaks, or whatever streamframer raised that it must not
(anything but its documented errors). The same function serves libFuzzer through atheris and a
plain replay of saved inputs, with or without atheris installed.
"""

from __future__ import annotations

import gc
import inspect
import os
import sys
import types
from collections.abc import Sequence
from typing import Any, Callable, TypeVar

import streamframer
from streamframer import BufferManager, NeedMore, Rule, RuleResult, Skip
from streamframer import _rules as rules_package
from streamframer._core import _pure

__all__ = [
    "ALPHABET",
    "Choices",
    "Custom",
    "ManagerType",
    "Outcome",
    "build_rule",
    "cores",
    "describe_error",
    "fuzz",
    "markers_of",
    "reference",
    "rule_factories",
    "stream",
]

T = TypeVar("T")
ManagerType = Callable[..., BufferManager]

#: Bytes that start, end or size frames for some built-in rule. Streams and markers are drawn
#: from them most of the time: random bytes alone rarely hold a delimiter of the rule at hand.
ALPHABET = b"\x00\x01\x02\x03\x04\x05\n\r#,:;0123456789ab\x80\xff"

# Values for the str parameters of rule builders: free text would only be refused.
_STR_CHOICES = {"byteorder": ("big", "little"), "indefinite": ("refuse", "terminator")}


class Choices:
    """Decisions read from the fuzzer's input, front to back.

    Past the end of the input every answer is the smallest one, so any input, empty included,
    is a valid and finite script; and a byte's meaning depends only on what was read before
    it, so libFuzzer's mutations stay local.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    @property
    def exhausted(self) -> bool:
        return self.position >= len(self.data)

    def byte(self) -> int:
        if self.position >= len(self.data):
            return 0
        self.position += 1
        return self.data[self.position - 1]

    def below(self, n: int) -> int:
        """An int in ``range(n)`` (``n`` up to 65536)."""
        value = self.byte()
        if n > 256:
            value = value << 8 | self.byte()
        return value % n

    def between(self, low: int, high: int) -> int:
        """An int from ``low`` to ``high``, both included."""
        return low + self.below(high - low + 1)

    def flag(self) -> bool:
        return self.byte() & 1 == 1

    def pick(self, items: Sequence[T]) -> T:
        return items[self.below(len(items))]

    def blob(self, size: int, alphabet: bytes = ALPHABET) -> bytes:
        """``size`` bytes: raw input, or (the first choice says) input mapped onto
        ``alphabet``."""
        mapped = self.flag()
        raw = self.data[self.position : self.position + size]
        self.position += len(raw)
        if mapped:
            raw = bytes(alphabet[b % len(alphabet)] for b in raw)
        return raw


def stream(choices: Choices, alphabet: bytes, longest: int = 64) -> bytes:
    """A piece of stream: mostly short, sometimes long (limits, big frames)."""
    size = choices.between(0, longest) if choices.below(8) else choices.between(0, 4 * longest)
    return choices.blob(size, alphabet)


# ------------------------------------------------------------------------------------------
# Rules


def rule_factories() -> dict[str, Callable[..., Any]]:
    """Every rule builder streamframer exports, found by looking: a lowercase name exported by
    both the package and its rules subpackage. A rule added there is fuzzed without changing
    this file (by the ``rule_other`` target until it gets a target of its own)."""
    names = set(streamframer.__all__) & set(rules_package.__all__)
    return {
        name: getattr(streamframer, name)
        for name in sorted(names)
        if name[:1].islower() and inspect.isfunction(getattr(streamframer, name))
    }


def build_rule(choices: Choices, factory: Callable[..., Any]) -> Rule | None:
    """``factory`` called with arguments chosen from its signature (each optional one left at its
    default half the time), or ``None`` when it refuses them (``ValueError``/``TypeError``,
    as documented for bad arguments) or returns something that is not a rule."""
    args: list[object] = []
    kwargs: dict[str, object] = {}
    for parameter in inspect.signature(factory).parameters.values():
        has_default = parameter.default is not parameter.empty
        if has_default and choices.flag():
            continue
        value = _argument(choices, parameter.name, str(parameter.annotation))
        if value is _UNKNOWN:
            if has_default:
                continue
            return None
        if parameter.kind is parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = value
        else:
            args.append(value)
    try:
        rule = factory(*args, **kwargs)
    except (ValueError, TypeError):
        return None
    return rule if callable(rule) else None


_UNKNOWN = object()


def _argument(choices: Choices, name: str, annotation: str) -> object:
    """A value for a builder's parameter, by its annotation (a string: the rules modules use
    postponed annotations)."""
    if name in _STR_CHOICES:
        return choices.pick(_STR_CHOICES[name])
    if "None" in annotation and choices.below(4) == 0:
        return None
    if "Iterable" in annotation:
        return [_marker(choices) for _ in range(choices.between(1, 3))]
    if "bool" in annotation:
        return choices.flag()
    if "bytes" in annotation:
        return _marker(choices)
    if "int" in annotation:
        kind = choices.below(4)
        if kind == 0:
            return choices.between(-8, 0)
        if kind == 1:
            return choices.between(0, 300)
        return choices.between(0, 16)
    return _UNKNOWN


def _marker(choices: Choices) -> bytes:
    return bytes(choices.pick(ALPHABET) for _ in range(choices.pick((1, 1, 1, 2, 2, 3))))


def markers_of(rule: Rule) -> bytes:
    """The bytes of a rule's markers (delimiters, terminators, start and stop): streams drawn
    from them and ``ALPHABET`` hold frames more often."""
    found = bytearray()
    for name in dir(rule):
        if name.startswith("__"):
            continue
        value = getattr(rule, name, None)
        if isinstance(value, bytes):
            found += value
        elif isinstance(value, tuple) and all(isinstance(item, bytes) for item in value):
            found += b"".join(value)
    return bytes(found)


class Custom:
    """A rule behind an object of no built-in type: both cores then run it through the public
    contract (the generic path, as for a user's own rule) instead of recognising it."""

    __slots__ = ("rule",)

    def __init__(self, rule: Rule) -> None:
        self.rule = rule

    def __call__(self, buffer: bytearray, scan: int) -> RuleResult:
        return self.rule(buffer, scan)

    def __repr__(self) -> str:
        return f"Custom({self.rule!r})"


# ------------------------------------------------------------------------------------------
# Cores and outcomes


def cores() -> list[ManagerType]:
    """The BufferManager of each core this build has: the pure one, then the compiled one."""
    found: list[ManagerType] = [_pure.BufferManager]
    try:
        from streamframer._core import _ccore
    except ImportError:
        if os.environ.get("STREAMFRAMER_REQUIRE_EXTENSION"):
            raise
    else:
        found.append(_ccore.BufferManager)
    return found


#: What an operation gave, in a form two cores can be compared by: ``("none",)``,
#: ``("frame", payload)``, ``("raise", type, message, attributes)`` and so on.
Outcome = tuple[Any, ...]


def describe_error(exc: BaseException) -> Outcome:
    """An error as the data a program acts on: its type, message and documented attributes."""
    attributes = tuple(
        (name, getattr(exc, name))
        for name in ("partial", "limit", "size", "offset")
        if hasattr(exc, name)
    )
    return ("raise", type(exc).__name__, str(exc), attributes)


def reference(
    rule: Rule, data: bytes, *, at_eof: bool = False, on_eof: str = "raise"
) -> tuple[int, RuleResult]:
    """What the rule says about ``data`` taken whole from its first byte: the bytes it skips,
    then its answer (an error it raises propagates). The built-in rules give the same frames
    however the stream was split, so this is what a manager holding ``data`` must find, at
    the end of the stream too (``on_eof="frame"`` turns the rest into a last frame)."""
    buffer = bytearray(data)
    skipped = 0
    result = rule(buffer, 0)
    while type(result) is Skip:
        del buffer[: result.nbytes]
        skipped += result.nbytes
        result = rule(buffer, 0)
    if type(result) is NeedMore and at_eof and buffer and on_eof == "frame":
        return skipped, streamframer.FrameSpan(0, len(buffer), len(buffer))
    return skipped, result


def fuzz(check: Callable[[bytes], None]) -> None:
    """Run ``check`` under libFuzzer (atheris), with the command line's libFuzzer options
    (``-max_total_time=60``, a corpus directory, ``-runs=N``, a crash file to replay ...).

    The pure core, the rules, the adapters and the fuzz code are instrumented for coverage; the
    compiled core is not (it is the other side of the differential target), nor the standard
    library (atheris.instrument_all() would take 20 s of every run's start)."""
    import atheris  # type: ignore[import-untyped]

    roots = (os.path.dirname(streamframer.__file__), os.path.dirname(os.path.abspath(__file__)))
    for function in [obj for obj in gc.get_objects() if isinstance(obj, types.FunctionType)]:
        if function.__code__.co_filename.startswith(roots):
            atheris.instrument_func(function)
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()
