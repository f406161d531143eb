"""The steps of ``async for frame in reader`` against hostile code, run by hand (``send``,
``throw``, ``close``) as an event loop would: on the compiled core an awaitable of its own, on
the pure core the adapter's async generator; both give the same answers. Each in a fresh
interpreter, where a crash fails the test and not the run."""

from __future__ import annotations

import sys

import pytest

from helpers import check_isolated

# A protocol with a transport that does nothing, fed by hand; step(it) runs one step of the
# iteration, as a task would, and says what it gave; in_loop(body) runs body with an event loop
# running (a step that waits makes a future of it).
_SETUP = """
import asyncio
import gc
import weakref
from streamframer.aio import FramedProtocol

class Transport:
    def pause_reading(self): pass
    def resume_reading(self): pass
    def get_extra_info(self, name, default=None): return default

def connection(rule):
    protocol = FramedProtocol(rule)
    protocol.connection_made(Transport())
    return protocol, protocol.reader

def step(it):
    try:
        it.__anext__().send(None)
    except StopIteration as stop:
        return bytes(stop.value)
    except StopAsyncIteration:
        return "end"
    except Exception as exc:
        return type(exc).__name__
    return "waits"

def in_loop(body):
    async def main():
        body()
    asyncio.run(main())
"""


def test_a_rule_cannot_reenter_the_step_it_runs_in(streamframer_core: str) -> None:
    """A rule that steps the iteration it is called from is refused (RuntimeError; a throw
    ValueError, or RuntimeError from 3.13's async generators), and the outer step gives its
    frame; a rule set on the reader between steps is the next step's."""
    code = (
        _SETUP
        + """
def body():
    inner = []
    def rule(buffer, scan):
        if not inner:
            inner.append(step(it))
            try:
                it.__anext__().throw(KeyError("inner"))
            except (RuntimeError, ValueError):  # as async generators: ValueError before 3.13
                inner.append("refused")
        return until_delim(b"\\n")(buffer, scan)
    protocol, reader = connection(rule)
    protocol.data_received(b"one\\ntwo;three;")
    it = reader.__aiter__()
    print(step(it), inner)
    reader.rule = until_delim(b";")
    print(step(it), step(it), step(it))
in_loop(body)
"""
    )
    check_isolated(
        streamframer_core, code, "b'one' ['RuntimeError', 'refused']\nb'two' b'three' waits\n"
    )


def test_a_step_that_waits_gives_the_frame_that_comes(streamframer_core: str) -> None:
    """A step with no complete frame buffered waits; bytes that complete it wake it, and it gives
    that frame; the end of the stream between frames ends the iteration."""
    code = (
        _SETUP
        + """
def body():
    protocol, reader = connection(until_delim(b"\\n"))
    it = reader.__aiter__()
    awaitable = it.__anext__()
    print(type(awaitable.send(None)).__name__)
    protocol.data_received(b"late\\n")
    try:
        awaitable.send(None)
    except StopIteration as stop:
        print(bytes(stop.value))
    protocol.eof_received()
    print(step(it), step(it))
in_loop(body)
"""
    )
    check_isolated(streamframer_core, code, "Future\nb'late'\nend end\n")


def test_a_thrown_exception_ends_the_iteration_and_loses_nothing(streamframer_core: str) -> None:
    """An exception thrown into a waiting step (a cancelled task) comes out of it and ends the
    iteration, as thrown into a step not begun; the bytes stay buffered for the next iteration
    over the connection."""
    code = (
        _SETUP
        + """
def body():
    protocol, reader = connection(until_delim(b"\\n"))
    protocol.data_received(b"par")
    it = reader.__aiter__()
    awaitable = it.__anext__()
    awaitable.send(None)
    try:
        awaitable.throw(KeyError("cancelled"))
    except KeyError as exc:
        print("raised", exc)
    print(step(it))
    fresh = reader.__aiter__()
    try:
        fresh.__anext__().throw(ValueError("first"))
    except ValueError as exc:
        print("raised", exc)
    print(step(fresh))
    protocol.data_received(b"t\\n")
    print(step(reader.__aiter__()))
in_loop(body)
"""
    )
    expected = "raised 'cancelled'\nend\nraised first\nend\nb'part'\n"
    check_isolated(streamframer_core, code, expected)


def test_a_cycle_through_the_iteration_is_collected(streamframer_core: str) -> None:
    """A rule that holds the iteration it serves (iteration -> reader -> rule -> iteration),
    with a step waiting, is collected with everything in it."""
    code = (
        _SETUP
        + """
def body():
    class Rule:
        def __call__(self, buffer, scan):
            return until_delim(b"\\n")(buffer, scan)
    rule = Rule()
    protocol, reader = connection(rule)
    protocol.data_received(b"a\\nb")
    rule.it = reader.__aiter__()
    print(step(rule.it), step(rule.it))
    alive = weakref.ref(rule)
    del rule, protocol, reader
    gc.collect()
    print(alive() is None)
in_loop(body)
"""
    )
    check_isolated(streamframer_core, code, "b'a' waits\nTrue\n")


def test_the_steps_are_only_made_by_a_reader(streamframer_core: str) -> None:
    code = (
        _SETUP
        + """
def body():
    protocol, reader = connection(until_delim(b"\\n"))
    try:
        type(reader.__aiter__())()
    except TypeError:
        print("refused")
in_loop(body)
"""
    )
    check_isolated(streamframer_core, code, "refused\n")


def test_closing_the_task_coroutine_mid_wait_loses_nothing(streamframer_core: str) -> None:
    """A coroutine closed while its ``async for`` waits (a task collected, or closed by hand)
    closes the wait; the bytes that come later go to the next iteration."""
    code = (
        _SETUP
        + """
def body():
    protocol, reader = connection(until_delim(b"\\n"))
    async def consume():
        async for frame in reader:
            return bytes(frame)
    coroutine = consume()
    print(type(coroutine.send(None)).__name__)
    coroutine.close()
    protocol.data_received(b"kept\\n")
    print(step(reader.__aiter__()))
in_loop(body)
"""
    )
    check_isolated(streamframer_core, code, "Future\nb'kept'\n")


def test_an_exception_class_thrown_is_raised_as_made(streamframer_core: str) -> None:
    """``throw(ValueError)`` and ``throw(ValueError, "x")`` raise what the class makes, into a
    waiting step as into one not begun."""
    code = (
        _SETUP
        + """
def body():
    protocol, reader = connection(until_delim(b"\\n"))
    for waiting in (False, True):
        for args in ((ValueError,), (ValueError, "x")):
            awaitable = reader.__aiter__().__anext__()
            if waiting:
                awaitable.send(None)
            try:
                awaitable.throw(*args)
            except ValueError as exc:
                print(waiting, repr(exc))
in_loop(body)
"""
    )
    expected = (
        "False ValueError()\nFalse ValueError('x')\nTrue ValueError()\nTrue ValueError('x')\n"
    )
    check_isolated(streamframer_core, code, expected)


def test_reading_resumes_once_the_loop_has_caught_up(streamframer_core: str) -> None:
    """With reading paused, a step that finds at most ``read_ahead // 2`` bytes buffered
    resumes reading before it takes its frame, and not earlier."""
    code = (
        _SETUP
        + """
class Recording(Transport):
    events = []
    def pause_reading(self): self.events.append("pause")
    def resume_reading(self): self.events.append("resume")

def body():
    protocol = FramedProtocol(until_delim(b"\\n"), read_ahead=8)
    transport = Recording()
    protocol.connection_made(transport)
    protocol.data_received(b"a\\n" * 8)
    it = protocol.reader.__aiter__()
    for number in range(1, 9):
        frame = step(it)
        transport.events.append(number)
    print(transport.events)
in_loop(body)
"""
    )
    expected = "['pause', 1, 2, 3, 4, 5, 6, 'resume', 7, 8]\n"
    check_isolated(streamframer_core, code, expected)


def test_a_step_ends_raises_and_settles_as_the_reference_does(streamframer_core: str) -> None:
    """A stream that ends inside a frame raises StreamClosed with the partial bytes, a rule's
    error comes out of its step, and either ends the iteration; a step taken while a read's
    reservation awaits its commit settles it first."""
    code = (
        _SETUP
        + """
def failing(buffer, scan):
    raise KeyError("rule")

def body():
    protocol, reader = connection(until_delim(b"\\n"))
    protocol.data_received(b"one\\npar")
    protocol.eof_received()
    it = reader.__aiter__()
    print(step(it), step(it), step(it))

    protocol, reader = connection(failing)
    protocol.data_received(b"x")
    it = reader.__aiter__()
    print(step(it), step(it))

    protocol, reader = connection(until_delim(b"\\n"))
    protocol.data_received(b"two\\n")
    protocol.get_buffer(-1)
    it = reader.__aiter__()
    print(step(it), step(it))
in_loop(body)
"""
    )
    expected = "b'one' StreamClosed end\nKeyError end\nb'two' waits\n"
    check_isolated(streamframer_core, code, expected)


def test_a_reader_with_its_own_attribute_access_is_served(streamframer_core: str) -> None:
    """A FramedReader subclass that defines ``__getattribute__`` and ``__setattr__`` is read and
    written through them, step by step."""
    code = (
        _SETUP
        + """
from streamframer.aio import FramedReader

class Logged(FramedReader):
    seen = set()
    def __getattribute__(self, name):
        Logged.seen.add(name)
        return super().__getattribute__(name)
    def __setattr__(self, name, value):
        Logged.seen.add("set " + name)
        super().__setattr__(name, value)

def body():
    protocol, _ = connection(until_delim(b"\\n"))
    reader = Logged(protocol, until_delim(b"\\n"))
    protocol.data_received(b"a\\nb\\n")
    it = reader.__aiter__()
    print(step(it), step(it))
    print(sorted(name for name in Logged.seen if name in ("rule", "set _yielded")))
in_loop(body)
"""
    )
    check_isolated(streamframer_core, code, "b'a' b'b'\n['rule', 'set _yielded']\n")


def test_odd_throws_and_failing_attributes_come_out_of_the_step(streamframer_core: str) -> None:
    """What a step calls may fail, and a throw may be odd: each failure comes out of its step as
    the reference's would (a kept view of the frame stops the next step; a protocol or reader
    whose attributes raise; a throw with no exception, a non-exception, a class that makes none,
    or a class and an instance of it)."""
    code = (
        _SETUP
        + """
from streamframer.aio import FramedReader

class Odd(Exception):
    def __new__(cls, *args):
        return 42

class Stuck(FramedProtocol):
    armed = False
    @property
    def _paused(self):
        if self.armed:
            raise KeyError("paused")
        return False
    @_paused.setter
    def _paused(self, value):
        pass

class Forgetful(FramedReader):
    def _consume_yielded(self):
        raise KeyError("forgot")

def outcome(call):
    try:
        call()
    except StopIteration as stop:
        return bytes(stop.value)
    except Exception as exc:
        return type(exc).__name__
    return "waits"

def body():
    protocol, reader = connection(until_delim(b"\\n"))
    for args in ((), (42,), (Odd,), (ValueError, ValueError("v"))):
        print(outcome(lambda: reader.__aiter__().__anext__().throw(*args)))

    protocol, reader = connection(until_delim(b"\\n"))
    protocol.data_received(b"a\\nb\\n")
    it = reader.__aiter__()
    kept = []
    def keep():
        try:
            it.__anext__().send(None)
        except StopIteration as stop:
            kept.append(stop.value.view)
            raise
    print(outcome(keep), outcome(lambda: it.__anext__().send(None)))

    stuck = Stuck(until_delim(b"\\n"))
    stuck.connection_made(Transport())
    stuck.data_received(b"c\\n")
    stuck.armed = True
    print(step(stuck.reader.__aiter__()))

    protocol, _ = connection(until_delim(b"\\n"))
    protocol.data_received(b"d\\n")
    print(step(Forgetful(protocol, until_delim(b"\\n")).__aiter__()))
in_loop(body)
"""
    )
    expected = "TypeError\n" * 3 + "ValueError\nb'a' FrameLifecycleError\nKeyError\nKeyError\n"
    check_isolated(streamframer_core, code, expected)


@pytest.mark.one_core("c")
@pytest.mark.skipif(
    sys.version_info < (3, 10),
    reason="the compiled steps need am_send (3.10+): 3.9 iterates in Python",
)
def test_the_compiled_steps_close_from_any_state(streamframer_core: str) -> None:
    """``close()`` (what a coroutine closed while it awaits a step calls; async generators have
    ``aclose()`` instead) ends the compiled iteration whether a step waits or not; re-entered
    from a rule it is refused, and the step goes on."""
    code = (
        _SETUP
        + """
def body():
    inner = []
    def rule(buffer, scan):
        if not inner:
            try:
                it.close()
            except ValueError as exc:
                inner.append(str(exc))
        return until_delim(b"\\n")(buffer, scan)
    protocol, reader = connection(rule)
    protocol.data_received(b"a\\nb\\n")
    it = reader.__aiter__()
    print(step(it), inner)
    print(it.close(), step(it))
in_loop(body)
"""
    )
    expected = "b'a' ['close(): this async for step is already running']\nNone end\n"
    check_isolated(streamframer_core, code, expected)
