"""A state machine drives random sequences of feeds, reads, consumes, slices of frame.view,
manager views, discards and zero-copy reads, and checks after every step that no byte was lost,
reordered or changed, and that every refusal is a FrameLifecycleError that changed nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from helpers import DETERMINISTIC
from streamframer import (
    BufferManager,
    Frame,
    FrameLifecycleError,
    RuleResult,
    until_delim,
)

LINE = until_delim(b"\n")


# --------------------------------------------------------------------------------------------
# State machine: random misuse never loses, reorders or changes a byte


def wrapped_line(buffer: bytearray, scan: int) -> RuleResult:
    """LINE through the public contract: the generic path, which compacts the buffer."""
    return LINE(buffer, scan)


MACHINE_RULES = [
    (LINE, b"\n", None),
    (until_delim(b"aba"), b"aba", None),
    (until_delim(b"\n", strip=b"\r"), b"\n", b"\r"),
    (wrapped_line, b"\n", None),
]
PIECES = st.sampled_from([b"\n", b"a", b"b", b"ab", b"aba", b"\r\n", b"xyz", b""])


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.mgr = BufferManager(max_size=None)
        self.fed = bytearray()  # every byte fed, in order
        self.taken = 0  # how many of them consume()/discard() removed
        self.frame: Frame | None = None
        self.expected: tuple[bytes, int] = (b"", 0)  # outstanding payload, bytes it consumes
        # Held exports: the view, its content, and whose it is ("frame" or "manager").
        self.slices: list[tuple[memoryview, bytes, str]] = []
        self.stale: list[Frame] = []

    @initialize(choice=st.sampled_from(MACHINE_RULES))
    def choose_rule(self, choice: Any) -> None:
        self.rule, self.delim, self.strip = choice

    def remaining(self) -> bytes:
        return bytes(self.fed[self.taken :])

    @rule(data=st.lists(PIECES, max_size=4).map(b"".join))
    def feed(self, data: bytes) -> None:
        try:
            self.mgr.feed(data)
        except FrameLifecycleError:  # documented: the buffer cannot grow under a view
            assert self.slices, "feed() refused with no export alive"
            return
        self.fed += data

    @rule()
    def next_frame(self) -> None:
        if self.frame is not None:
            with pytest.raises(FrameLifecycleError):
                self.mgr.next_frame(self.rule)
            return
        try:
            frame = self.mgr.next_frame(self.rule)
        except FrameLifecycleError:
            assert self.slices, "refused a read with no export alive"
            return
        remaining = self.remaining()
        if self.delim not in remaining:
            assert frame is None
            return
        assert frame is not None
        payload = remaining.split(self.delim)[0]
        size = len(payload) + len(self.delim)
        if self.strip is not None and payload.endswith(self.strip):
            payload = payload[:-1]
        assert bytes(frame) == payload
        self.frame, self.expected = frame, (payload, size)

    @rule()
    def consume(self) -> None:
        if self.frame is None:
            if self.stale:
                with pytest.raises(FrameLifecycleError):
                    self.stale[-1].consume()
            return
        slice_held = any(kind == "frame" for _, _, kind in self.slices)
        try:
            self.frame.consume()
        except FrameLifecycleError:
            assert self.slices, "consume() refused with no export alive"
            assert not self.frame.consumed, "consume() raised but consumed the frame"
            assert bytes(self.frame) == self.expected[0]
            return
        assert not slice_held, "consumed while a slice of the frame was alive"
        assert self.frame.consumed
        self.taken += self.expected[1]
        self.stale.append(self.frame)
        self.frame = None

    @rule(a=st.integers(0, 8), b=st.integers(0, 8))
    def hold_frame_slice(self, a: int, b: int) -> None:
        if self.frame is not None:
            piece = self.frame.view[a:b]
            self.slices.append((piece, self.expected[0][a:b], "frame"))

    @rule()
    def hold_manager_view(self) -> None:
        try:
            view = self.mgr.view()
        except FrameLifecycleError:  # documented: refused while a frame is outstanding
            assert self.slices or self.frame is not None
            return
        content = bytes(view)
        assert self.remaining().startswith(content)
        self.slices.append((view, content, "manager"))

    @rule()
    def release_one(self) -> None:
        if self.slices:
            view, _, _ = self.slices.pop(0)
            view.release()

    @rule(n=st.integers(0, 6))
    def discard(self, n: int) -> None:
        n = min(n, len(self.remaining()))
        try:
            self.mgr.discard(n)
        except FrameLifecycleError:  # documented: an outstanding frame with a view alive
            assert self.frame is not None, "discard() refused with no frame outstanding"
            assert self.slices, "discard() refused with no export alive"
            assert not self.frame.consumed
            return
        self.taken += n
        if self.frame is not None:  # ended by discard(): gone, like a consumed one
            assert self.frame.consumed
            with pytest.raises(FrameLifecycleError, match="ended by clear"):
                bytes(self.frame)
            self.frame = None

    @rule(data=PIECES, keep=st.integers(0, 3), release=st.booleans())
    def zero_copy_read(self, data: bytes, keep: int, release: bool) -> None:
        """reserve(), write, commit(); ``release``: the caller releases its view first (as
        ``with mgr.reserve() as view:`` does)."""
        if self.frame is not None:
            with pytest.raises(FrameLifecycleError):
                self.mgr.reserve()
            return
        try:
            view = self.mgr.reserve(8)
        except FrameLifecycleError:
            assert self.slices
            return
        view[: len(data)] = data
        keep = min(keep, len(data))
        if release:
            view.release()
        self.mgr.commit(keep)
        self.fed += data[:keep]

    @rule()
    def use_stale_frame(self) -> None:
        if self.stale:
            with pytest.raises(FrameLifecycleError):
                bytes(self.stale[-1])

    @invariant()
    def nothing_lost_or_changed(self) -> None:
        assert len(self.mgr) == len(self.fed) - self.taken
        for view, content, _ in self.slices:
            assert bytes(view) == content
        if self.frame is not None:
            assert bytes(self.frame) == self.expected[0]

    def teardown(self) -> None:
        for view, _, _ in self.slices:
            view.release()
        self.slices.clear()
        if self.frame is not None:
            self.frame.consume()
            self.taken += self.expected[1]
        with self.mgr.view() as view:
            assert bytes(view) == self.remaining()


LifecycleMachine.TestCase.settings = settings(
    DETERMINISTIC, max_examples=100, stateful_step_count=25
)
test_lifecycle_machine = LifecycleMachine.TestCase
