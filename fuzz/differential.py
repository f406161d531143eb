"""Fuzz target: the compiled core against the pure one, on any operation sequence (see _ops).

Both cores play the same script side by side; after every operation they must have given the
same outcome (the same frames and payloads, the same error types, messages and attributes, the
same refusals) and show the same state (``len(mgr)``, ``skipped``, ``at_eof``, ``max_size``),
and at the end the same bytes left over. Without the compiled core there is nothing to compare:
the target says so and stops.

One thing is left out: while a view is held, bytes that need the buffer to move or grow are
refused (before a read) or wait behind the view (when fed), and bytes that fit in capacity the
buffer already has go in; that capacity is each core's own economy, so the cores may answer
differently there without either being wrong (nothing is lost either way; the manager target
checks that). Operations that may need room are not played while a view is held. For the same
reason a read delivers one byte: how many bytes a read asks for is each core's economy too.

Run: python fuzz/differential.py -max_total_time=3600 [corpus directory]
"""

from __future__ import annotations

import sys

from _harness import Choices, cores, fuzz
from _ops import Player, decode_script

__all__ = ["check"]


# The operations that may need the buffer to move or grow.
_NEEDS_ROOM = frozenset({"feed", "next_frame", "drain", "read", "reserve", "shrink"})


def check(data: bytes) -> None:
    script = decode_script(Choices(data))
    pure, compiled = (Player(core, script, read_at_most=1) for core in cores())
    for step, op in enumerate(script.ops):
        if pure.views and op.name in _NEEDS_ROOM:
            continue
        expected = pure.play(op)
        got = compiled.play(op)
        assert got == expected, f"step {step} {op}: pure {expected!r}, compiled {got!r}"
        assert compiled.state() == pure.state(), (step, op, pure.state(), compiled.state())
    assert compiled.finish() == pure.finish()


if __name__ == "__main__":
    if len(cores()) < 2:
        sys.exit("the compiled core is not built: nothing to compare the pure core with")
    fuzz(check)
