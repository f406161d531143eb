"""Fuzz target: any operation sequence on one manager, checked against a model (see _ops).

The model is the stream itself: every byte that entered the manager (fed, committed, read), in
order. After every operation, on each core:

* nothing is lost or reordered: every byte fed is in a frame consumed, skipped as noise,
  dropped with an oversized frame (``on_overflow="discard"`` only, and then reported to the
  byte by ``FrameDiscarded.size``), discarded by ``discard``/``clear``, or still buffered, in
  that order; the bytes left at the end are the stream's last ones;
* each frame is the one the rule finds when called directly on the buffered bytes, and fits
  in ``max_size``; ``None`` only when no frame that fits is buffered;
* only documented errors: streamframer's own, and ``ValueError`` for an argument out of range;
  a refusal (``FrameLifecycleError``) changes nothing;
* after the end of the stream, ``next_frame`` and ``read_with_rule`` never return ``None`` and
  ``drain`` never returns nothing: a reader cannot spin;
* no view a program holds ever changes (a frame's slice, ``view()``).

Run: python fuzz/manager.py -max_total_time=3600 [corpus directory]
"""

from __future__ import annotations

from _harness import Choices, Outcome, cores, fuzz, reference
from _ops import Op, Player, Script, decode_script

from streamframer import FrameSpan, FramingError, Rule, RuleResult

__all__ = ["check"]

# Operations whose argument may be out of range on purpose: only they may raise ValueError.
_BAD_ARGUMENTS = ("reserve", "commit", "discard", "max_size")


def check(data: bytes) -> None:
    script = decode_script(Choices(data))
    for core in cores():
        Model(Player(core, script), script).run()


class Model:
    def __init__(self, player: Player, script: Script) -> None:
        self.player = player
        self.script = script
        self.stream = bytearray()  # every byte that entered the manager
        self.explained = 0  # bytes gone for a known reason: frames, discard(), FrameDiscarded
        self.frame_size = 0  # bytes the outstanding frame takes

    @property
    def front(self) -> int:
        """Where in the stream the buffered bytes begin."""
        return len(self.stream) - len(self.player.mgr)

    def dropped(self) -> int:
        """Bytes gone for no reason reported yet: an oversized frame being dropped."""
        gone = self.front - self.explained - self.player.mgr.skipped
        assert gone >= 0, f"{-gone} bytes appeared from nowhere"
        if self.script.on_overflow == "error":
            assert gone == 0, f"{gone} bytes vanished"
        return gone

    def run(self) -> None:
        mgr = self.player.mgr
        for op in self.script.ops:
            before = (len(mgr), mgr.skipped, self.front)
            held = self.player.frame
            outcome = self.player.play(op)
            self.stream += self.player.received
            # A frame consumed leaves with its bytes; one that discard() or clear() ended is
            # counted by what they dropped, and by nothing later.
            if held is not None and held.consumed:
                if op.name not in ("discard", "clear"):
                    self.explained += self.frame_size
                self.frame_size = 0
            self.check(op, outcome, before)
            self.player.check_views()
        leftover = self.player.finish()
        self.explained += self.frame_size if self.player.frame is not None else 0
        assert self.stream.endswith(leftover)
        assert len(leftover) == len(mgr)

    def check(self, op: Op, outcome: Outcome, before: tuple[int, int, int]) -> None:
        mgr = self.player.mgr
        kind = outcome[0]
        if kind == "bad argument":
            assert op.name in _BAD_ARGUMENTS, (op, outcome)
        elif kind == "raise":
            self.check_error(op, outcome, before)
        elif op.name in ("discard", "clear"):
            self.explained += before[0] - len(mgr)
        elif op.name == "drain":
            assert outcome[1:] or not mgr.at_eof, "drain() returned nothing after the end"
            self.check_drained(op, [bytes(p) for p in outcome[1:]], before[2])
        elif kind == "none":
            self.check_none(op)
        elif kind == "frame":
            self.check_frame(self.rule(op), bytes(outcome[1]))
        self.dropped()

    def rule(self, op: Op) -> Rule:
        return self.script.rules[op.rule]

    def check_error(self, op: Op, outcome: Outcome, before: tuple[int, int, int]) -> None:
        mgr = self.player.mgr
        name, message, attributes = outcome[1], outcome[2], dict(outcome[3])
        if name == "FrameLifecycleError" and op.name != "read":
            assert (len(mgr), mgr.skipped, self.front) == before, f"refusal changed things: {op}"
        elif name == "FrameDiscarded":
            # Reported to the byte: everything dropped since the last report.
            assert attributes["size"] == self.dropped(), (attributes, self.dropped())
            self.explained += attributes["size"]
        elif name == "StreamClosed":
            assert mgr.at_eof
            assert attributes["partial"] == self.stream[self.front :]
        elif name == "FramingError" and op.name in ("next_frame", "read", "drain"):
            # The rule itself raises it, with this message, on the bytes buffered.
            try:
                reference(self.rule(op), bytes(self.stream[self.front :]))
            except FramingError as exc:
                said = str(exc)
            else:
                said = "nothing"
            assert said == message, f"the rule says {said}, the manager {message}"

    def reference(self, rule: Rule, rest: bytes) -> tuple[int, RuleResult]:
        """The rule called on ``rest``, the stream's end as the manager knows it."""
        return reference(rule, rest, at_eof=self.player.mgr.at_eof, on_eof=self.script.on_eof)

    def check_frame(self, rule: Rule, payload: bytes) -> None:
        """A frame came out: it is where the rule says, and fits the limit."""
        assert self.dropped() == 0, "a frame came out while an oversized one was being dropped"
        rest = bytes(self.stream[self.front :])
        skipped, result = self.reference(rule, rest)
        assert skipped == 0, "noise left before a frame"
        assert type(result) is FrameSpan, result
        assert payload == rest[result.start : result.end], (payload, result)
        limit = self.player.mgr.max_size
        # The last frame under on_eof="frame" is what the stream left, all of it admitted when
        # it was read: a max_size lowered since then does not refuse it (both cores agree).
        tail = self.player.mgr.at_eof and self.script.on_eof == "frame"
        assert limit is None or result.consume <= limit or tail, (result, limit)
        self.frame_size = result.consume

    def check_none(self, op: Op) -> None:
        """``None``: only before the end of the stream, and only if no frame that fits is
        buffered (unless an oversized frame is being dropped: those bytes are not frames)."""
        mgr = self.player.mgr
        assert not mgr.at_eof, f"{op.name} returned None after the end of the stream"
        if self.dropped() or self.script.on_overflow == "discard":
            return
        try:
            _, result = reference(self.rule(op), bytes(self.stream[self.front :]))
        except FramingError:
            return  # a header rule may be asked again only once its declared size is buffered
        limit = mgr.max_size
        if type(result) is FrameSpan:
            assert limit is not None, f"a frame was left: {result}"
            assert result.consume > limit, f"a frame was left: {result}"

    def check_drained(self, op: Op, payloads: list[bytes], front: int) -> None:
        """Each payload is the next frame the rule finds, noise skipped before it."""
        rule = self.rule(op)
        at = front
        for payload in payloads:
            rest = bytes(self.stream[at:])
            skipped, result = self.reference(rule, rest)
            assert type(result) is FrameSpan, result
            at += skipped
            assert payload == rest[skipped + result.start : skipped + result.end]
            at += result.consume
            self.explained += result.consume


if __name__ == "__main__":
    fuzz(check)
