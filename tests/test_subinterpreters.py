"""The compiled core in a subinterpreter: imported there (each interpreter gets its own module
state and types, and on 3.12+ its own GIL), it frames a stream, and its errors are that
interpreter's classes.

Uses the interpreter's private module for subinterpreters (``_interpreters`` on 3.13,
``_xxsubinterpreters`` before); skipped where the running Python has neither. The whole case runs
in a fresh interpreter (``run_isolated``), so a crash fails this test and not the run.
"""

from __future__ import annotations

import importlib.util
import textwrap

import pytest

from helpers import run_isolated

INTERPRETERS = next(
    (
        name
        for name in ("_interpreters", "_xxsubinterpreters")
        if importlib.util.find_spec(name) is not None
    ),
    None,
)

pytestmark = [
    pytest.mark.one_core,  # runs the compiled core itself, in a fresh interpreter
    pytest.mark.skipif(INTERPRETERS is None, reason="this Python offers no subinterpreters"),
    pytest.mark.skipif(
        importlib.util.find_spec("streamframer._core._ccore") is None,
        reason="the compiled core is not built",
    ),
]

# Run inside the subinterpreter: frames, a batch, and an error of the package's own tree.
FRAMING = """
import streamframer
from streamframer import BufferManager, FrameLifecycleError, until_delim

rule = until_delim(b"\\n")
mgr = BufferManager()
mgr.feed(b"one\\ntwo\\nthree\\n")
frame = mgr.next_frame(rule)
try:
    mgr.next_frame(rule)
except FrameLifecycleError:
    refused = "refused"
with frame:
    first = bytes(frame)
print(streamframer.IMPLEMENTATION, first, mgr.drain(rule), refused, flush=True)
"""


def test_the_compiled_core_frames_a_stream_in_a_subinterpreter() -> None:
    code = textwrap.dedent(
        f"""
        import {INTERPRETERS} as interpreters

        for _ in range(2):   # a second interpreter loads the module afresh
            interp = interpreters.create()
            failed = interpreters.run_string(interp, {FRAMING!r})
            assert failed is None, failed
            interpreters.destroy(interp)
        exec({FRAMING!r})
        """
    )
    done = run_isolated("c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["c b'one' [b'two', b'three'] refused"] * 3
