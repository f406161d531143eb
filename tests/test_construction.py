"""A manager or a frame made in any way Python allows is usable or refuses cleanly, never a
crash: a subclass whose ``__init__`` does not call ``super().__init__()``, and
``BufferManager.__new__(BufferManager)``, are managers with the default settings; ``Frame()``
and ``Frame.__new__(Frame)`` raise ``TypeError``; so do the compiled core's internal types.

Each case runs in a fresh interpreter on each core (``run_isolated``), so a crash fails it.
"""

from __future__ import annotations

import textwrap

import pytest

from helpers import CORES, run_isolated

pytestmark = pytest.mark.one_core  # each case names its core, run in a fresh interpreter

# Every public operation on a manager made without BufferManager.__init__, with what it says.
USE_EVERYTHING = """
from streamframer import BufferManager, DEFAULT_MAX_SIZE, DEFAULT_READ_SIZE, until_delim

RULE = until_delim(b"\\n")


def use(mgr):
    assert mgr.max_size == DEFAULT_MAX_SIZE and mgr.read_size == DEFAULT_READ_SIZE
    assert (mgr.on_overflow, mgr.on_eof, mgr.at_eof, mgr.skipped) == ("error", "raise", False, 0)
    assert len(mgr) == 0 and "0 bytes" in repr(mgr) and mgr.__sizeof__() > 0
    assert mgr.next_frame(RULE) is None and mgr.drain(RULE) == []
    mgr.feed(b"one\\ntwo\\nthree\\n")
    with mgr.next_frame(RULE) as frame:
        assert frame == b"one" and len(frame) == 3
    assert mgr.drain(RULE) == [b"two", b"three"]
    view = mgr.reserve(4)
    view[:4] = b"fou\\n"
    view.release()
    mgr.commit(4)
    assert bytes(mgr.view()) == b"fou\\n"
    mgr.shrink()
    mgr.discard(1)
    assert mgr._fill(lambda buf: 0) == 0
    mgr.clear()
    mgr.max_size = 10
    mgr.feed_eof()
    try:
        mgr.next_frame(RULE)
    except Exception as exc:
        print(type(exc).__name__, exc.partial)
"""


@pytest.mark.parametrize("core", CORES)
def test_a_subclass_that_skips_init_gets_a_default_manager(core: str) -> None:
    code = USE_EVERYTHING + textwrap.dedent(
        """
        class Quiet(BufferManager):
            def __init__(self, port):
                self.port = port   # no super().__init__()

        use(Quiet(port=5))
        use(Quiet(6))
        """
    )
    done = run_isolated(core, code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["StreamClosed b''"] * 2


@pytest.mark.parametrize("core", CORES)
def test_new_without_init_gives_a_default_manager(core: str) -> None:
    code = USE_EVERYTHING + "use(BufferManager.__new__(BufferManager))\n"
    done = run_isolated(core, code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["StreamClosed b''"]


@pytest.mark.parametrize("core", CORES)
def test_frames_are_only_made_by_a_manager(core: str) -> None:
    code = textwrap.dedent(
        """
        from streamframer import BufferManager, Frame

        for make in (lambda: Frame(), lambda: Frame.__new__(Frame)):
            try:
                make()
            except TypeError as exc:
                print(exc)
        """
    )
    done = run_isolated(core, code)
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.splitlines()
        == ["frames come from a BufferManager (next_frame, read_with_rule, ...)"] * 2
    )


@pytest.mark.parametrize("core", [core for core in CORES if core != "python"])
def test_the_compiled_core_internal_types_cannot_be_made(core: str) -> None:
    code = textwrap.dedent(
        """
        from streamframer import BufferManager, until_delim
        from streamframer._io._socket import iter_frames, iter_payloads

        mgr = BufferManager()
        view = mgr.view()
        types = [type(view.obj)]
        for loop in (iter_frames, iter_payloads):
            types.append(type(loop(None, mgr, until_delim(b"\\n"))))
        for kind in types:
            for make in (lambda: kind(), lambda: kind.__new__(kind)):
                try:
                    make()
                except TypeError as exc:
                    print(exc)
        """
    )
    done = run_isolated(core, code)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 6, done.stdout
