"""The garbage collector sees through frames: every cycle that passes through a frame (a
subclass attribute holding the current frame, a bound-method rule on an object that holds its
frame) is collected, with the manager's buffer, on both cores.

Each case runs in a fresh interpreter (``run_isolated``): a collector that reaches freed memory
crashes that test, not the run.
"""

from __future__ import annotations

import textwrap

import pytest

from helpers import CORES, run_isolated

pytestmark = pytest.mark.one_core  # each case names its core, run in a fresh interpreter

MANAGERS = 50
MIB = 1 << 20


def collected(core: str, make: str) -> str:
    """Makes MANAGERS managers with ``make`` (a function body taking ``i`` and returning one,
    left in a cycle with its current frame), then collects: prints how many are still alive."""
    code = textwrap.dedent(
        """
        import gc, weakref
        import streamframer
        from streamframer import BufferManager, until_delim

        RULE = until_delim(b"\\n")
        PAYLOAD = b"x" * {mib} + b"\\n"

        def make(i):
        {make}

        gc.disable()   # collected once, below, whatever the allocations on the way
        alive = [weakref.ref(make(i)) for i in range({managers})]
        gc.collect()
        print(sum(ref() is not None for ref in alive))
        """
    ).format(mib=MIB, managers=MANAGERS, make=textwrap.indent(textwrap.dedent(make), "    "))
    done = run_isolated(core, code)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("core", CORES)
def test_a_subclass_holding_its_current_frame_is_collected(core: str) -> None:
    make = """
        class Holder(BufferManager):
            pass

        mgr = Holder()
        mgr.feed(PAYLOAD)
        mgr.current = mgr.next_frame(RULE)
        assert len(mgr.current) == len(PAYLOAD) - 1
        return mgr
    """
    assert collected(core, make) == "0"


@pytest.mark.parametrize("core", CORES)
def test_a_bound_method_rule_whose_object_holds_the_frame_is_collected(core: str) -> None:
    make = """
        class Reader:
            def rule(self, buf, scan):
                return RULE(buf, scan)

        reader = Reader()
        mgr = BufferManager()
        mgr.feed(PAYLOAD)
        reader.frame = mgr.next_frame(reader.rule)
        assert len(reader.frame) == len(PAYLOAD) - 1
        return mgr
    """
    assert collected(core, make) == "0"


@pytest.mark.parametrize("core", CORES)
def test_a_finalizer_in_the_cycle_may_use_the_manager_and_its_frame(core: str) -> None:
    # Finalizers run before the collector clears anything: this one reads the frame, consumes
    # it, reads the next one, and keeps the manager alive (resurrecting the whole cycle).
    code = textwrap.dedent(
        """
        import gc
        from streamframer import BufferManager, until_delim

        RULE = until_delim(b"\\n")
        kept = []

        class Holder(BufferManager):
            def __del__(self):
                frame = self.current
                kept.append((bytes(frame), frame.consumed))
                frame.consume()
                self.current = self.next_frame(RULE)
                kept.append(self)

        mgr = Holder()
        mgr.feed(b"one\\ntwo\\n")
        mgr.current = mgr.next_frame(RULE)
        del mgr
        gc.collect()
        first, survivor = kept
        print(first, bytes(survivor.current), len(survivor))
        survivor.current.consume()
        survivor.feed(b"three\\n")
        print(bytes(survivor.next_frame(RULE)))
        """
    )
    done = run_isolated(core, code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["(b'one', False) b'two' 4", "b'three'"]
