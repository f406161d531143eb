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
from typing import Any

from _harness import Choices, ManagerType, cores, fuzz
from _hostile import (
    FOREIGN,
    LIMITS,
    Call,
    Callbacks,
    Source,
    Step,
    decode,
    describe,
    summary,
    undocumented,
)

from streamframer import read_with_rule

__all__ = ["check", "play"]


class Player(Callbacks):
    """Runs a script on one core's manager, holding what a hostile program holds."""

    def play(self, step: Step) -> tuple[Any, ...]:
        self.calls = list(step.calls)
        self.trace = []
        held = self.manager_views > 0
        try:
            result: Any = getattr(self, "_" + step.op)(step)
        except BaseException as exc:
            result = describe(exc)
        self.under_view.append(held or self.manager_views > 0)
        outcome = (step.op, summary(result), summary(tuple(self.trace)))
        for name in undocumented(outcome):
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
        self.fill_reserved(step.data)
        return len(view)

    def _commit(self, step: Step) -> object:
        count: Any = step.n % 4
        if step.calls:
            count = self._index(count, step.calls[0])
        before = len(self.mgr)
        self.mgr.commit(count)
        self.committed(len(self.mgr) - before)
        return len(self.mgr)

    def _fill(self, step: Step) -> object:
        return self.mgr._fill(self._reader())

    def _read(self, step: Step) -> object:
        source = Source(self._reader())
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
        self.manager_views += 1
        return self._payload(view.tobytes())

    def _release(self, step: Step) -> object:
        for view in self.views:
            view.release()
        self.views.clear()
        self.manager_views = 0
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

    def _views(self, step: Step) -> object:
        """Read every view held (frames', the manager's): what they show must still be there."""
        seen = []
        for view in self.views:
            try:
                seen.append(self._payload(view.tobytes()))
            except ValueError:  # released
                seen.append(None)
        return tuple(seen)

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
                # Always a change of size: CPython lets a resize to the same size pass under
                # an export, so clearing an empty bytearray (the pure core's storage when
                # nothing is buffered; the compiled core keeps spare capacity in its own)
                # would tell the cores' storage sizes apart, not their safety.
                elif step.n % 3 == 1 or not kept:
                    kept += bytes([FOREIGN]) * 64
                elif step.n % 3 == 0:
                    kept.clear()
                else:
                    del kept[: step.n % 5 or 1]
                done.append(("kept", len(kept)))
            except BaseException as exc:
                done.append(describe(exc))
        return tuple(done)

    def _gc(self, step: Step) -> object:
        if step.n % 2:
            self.frames.clear()
            self.kept.clear()
        return gc.collect() >= 0


# ------------------------------------------------------------------------------------------
# The target and the drivers


def play(data: bytes, core: ManagerType) -> tuple[list[tuple[Any, ...]], list[str], list[bool]]:
    """The outcome of every step of the script in ``data`` on ``core``, the broken invariants
    seen, and for each step whether a view() of the manager was alive."""
    script = decode(Choices(data))
    player = Player(core, script)
    outcomes = [player.play(step) for step in script.steps]
    outcomes.append(player.play(Step("release")))
    gc.collect()
    return outcomes, player.problems, player.under_view


# What a core answers when the bytes that must move, or wait behind a view, do not fit.
REFUSED = (("raise", "FrameLifecycleError"), ("raise", "FrameTooLarge"))


def check(data: bytes) -> None:
    """Plays the script in ``data`` on each core, then raises for the first broken invariant
    (on the pure core, then the compiled one), or else the first step where they differ.

    One difference is the cores' own: while a view() of the manager is alive, whether bytes
    that must move (a read, a feed, a rule that needs its buffer trimmed) fit in the capacity
    already held, or are refused (FrameLifecycleError, or FrameTooLarge for bytes that would wait
    behind the view beyond max_size), depends on the spare capacity each keeps (README, Two
    cores), and so does what a refused step left behind (the pure core may have dropped an
    oversized frame in discard mode before it was refused). The comparison stops at such a
    step; the invariants above still hold to the end."""
    runs = [play(data, core) for core in cores()]
    problems = [problem for _, found, _ in runs for problem in found]
    assert not problems, problems[0]
    (expected, _, under_view), *others = runs
    for got, _, _ in others:
        for number, (want, have) in enumerate(zip(expected, got)):
            if under_view[number] and (want[1] in REFUSED or have[1] in REFUSED):
                break
            assert have == want, f"cores differ at step {number}: pure {want!r}, compiled {have!r}"


def show(data: bytes) -> None:
    """Print the script in ``data`` and each step's outcome on every core."""
    script = decode(Choices(data))
    print(
        f"BufferManager({script.max_size}, read_size={script.read_size}, "
        f"on_overflow={script.on_overflow!r}, on_eof={script.on_eof!r})"
    )
    runs = [play(data, core)[0] for core in cores()]
    for number, step in enumerate(script.steps):
        print(f"{number:3d} {step}")
        for outcomes in runs:
            print(f"      {outcomes[number]!r}")


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
            show(data)
        check(data)
        return 0
    fuzz(check)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
