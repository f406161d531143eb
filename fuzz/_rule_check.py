"""The check behind the ``rule_*`` targets: one rule, arbitrary bytes, arbitrary chunking.

From the input: a rule of the target's family (its builder's arguments too), a stream, a way
to cut it into reads, a limit and an end-of-stream policy. The stream is framed by every core,
fed in those reads (frames taken after each read) and fed whole, through ``next_frame`` and
through ``drain``, then the stream is ended. Checked:

* only frames and streamframer's documented errors come out (anything else propagates: a crash);
* every way gives the same frames and ends the same way: the built-in rules promise frames
  that do not depend on how the stream was split into reads, and both cores promise the same
  frames, errors and messages; an error's message is compared between the cores only, since
  ``FrameTooLarge`` names the bytes buffered when it was raised, which depends on the reads;
* no byte is lost: what was fed is what the frames consumed, what was skipped and what is left.
"""

from __future__ import annotations

from collections.abc import Sequence

from _harness import (
    Choices,
    Custom,
    ManagerType,
    Outcome,
    build_rule,
    cores,
    describe_error,
    markers_of,
    reference,
    rule_factories,
    stream,
)

from streamframer import FrameSpan, FramingError, Rule, StreamFramerError

__all__ = ["FAMILIES", "check_family"]

#: One way of framing a stream: the payloads, how it ended, the bytes left over.
Run = tuple[list[bytes], Outcome, bytes]

#: The targets' rule families; ``rule_other`` takes every exported rule builder not named here.
FAMILIES = {
    "delimited": ("until_delim", "until_eot"),
    "any": ("until_any",),
    "fixed": ("fixed_size",),
    "length": ("length_prefixed",),
    "scpi": ("ieee_block", "scpi_response"),
    "between": ("between",),
}


def family_builders(family: str) -> list[str]:
    """The builder names of ``family``; for ``"other"``, every exported one of no family (all
    of them when there is none, so that the target never idles)."""
    known = rule_factories()
    if family != "other":
        return [name for name in FAMILIES[family] if name in known]
    named = {name for names in FAMILIES.values() for name in names}
    return [name for name in known if name not in named] or sorted(known)


def check_family(data: bytes, family: str) -> None:
    choices = Choices(data)
    factory = rule_factories()[choices.pick(family_builders(family))]
    rule = build_rule(choices, factory)
    if rule is None:
        return  # the builder refused the arguments, as documented
    if choices.flag():
        rule = Custom(rule)
    alphabet = markers_of(rule) + b"\x00\x01\x02\x03\x04\x05#0123456789,:\n"
    data = stream(choices, alphabet, longest=256)
    sizes = [choices.between(1, 16) for _ in range(choices.between(1, 4))]
    chunks = _split(data, sizes) or [b""]
    max_size = choices.pick((None, None, 1, 2, 4, 8, 16, 64, 300))
    on_eof = choices.pick(("raise", "frame"))

    runs = [
        _frame(manager, rule, pieces, max_size, on_eof, batch)
        for manager in cores()
        for pieces in (chunks, [data])
        for batch in (False, True)
    ]
    first = runs[0]
    for other in runs[1:]:
        if first[1][:2] == other[1][:2] and first[1][1] != "FrameTooLarge":
            assert first[0] == other[0], (first, other)
        else:
            _check_limit_reached(first, other)
    # The same reads in both cores end with the same message and attributes.
    for group in runs[0::4], runs[1::4], runs[2::4], runs[3::4]:
        assert all(run == group[0] for run in group), group


def _check_limit_reached(one: Run, other: Run) -> None:
    """Two ways that ended differently, or at a limit: only the limit may make a difference.
    Bytes buffered whole can complete a header, or settle where a frame ends, that reads cut
    shorter leave open when the limit is reached; the frames before are the same. (until_any
    also refuses a frame of exactly max_size whose delimiter could still grow, when a read
    ends right after it: tests/test_rules_multi.py pins that as a known defect.)"""
    shorter, longer = (one, other) if len(one[0]) <= len(other[0]) else (other, one)
    assert shorter[1][1] == "FrameTooLarge", (one, other)
    assert longer[0][: len(shorter[0])] == shorter[0], (one, other)


def _frame(
    manager: ManagerType,
    rule: Rule,
    chunks: Sequence[bytes],
    max_size: int | None,
    on_eof: str,
    batch: bool,
) -> Run:
    """Feed ``chunks`` into a new manager, taking frames after each, then end the stream.
    Returns the payloads, how it ended, and the bytes left over."""
    mgr = manager(max_size, on_eof=on_eof)
    payloads: list[bytes] = []
    received = bytearray()
    consumed = 0
    ending: Outcome = ("open",)
    try:
        for chunk in [*chunks, None]:
            if chunk is None:
                mgr.feed_eof()
            else:
                mgr.feed(chunk)
                received += chunk
            if batch:
                while got := mgr.drain(rule):
                    payloads += got
                    consumed = len(received) - len(mgr) - mgr.skipped
                continue
            while (frame := mgr.next_frame(rule)) is not None:
                payload = frame.tobytes()
                with frame.view as view:
                    assert view.tobytes() == payload
                front = len(received) - len(mgr)
                size = _expected(rule, received[front:], mgr.at_eof, on_eof, payload)
                assert size <= (max_size or size), (size, max_size)
                payloads.append(payload)
                frame.consume()
                assert len(received) - len(mgr) == front + size
                consumed += size
            _check_none(rule, received[len(received) - len(mgr) :], max_size, mgr.at_eof)
    except StreamFramerError as exc:
        ending = describe_error(exc)
    with mgr.view() as view:
        leftover = view.tobytes()
    assert len(leftover) == len(mgr)
    # Nothing lost, nothing reordered: the frames, the noise skipped and the rest, in order.
    assert consumed + mgr.skipped + len(leftover) == len(received), (consumed, mgr.skipped)
    assert received.endswith(leftover)
    return payloads, ending, leftover


def _expected(rule: Rule, rest: bytearray, at_eof: bool, on_eof: str, payload: bytes) -> int:
    """Check a frame taken from a manager holding ``rest`` against the rule called on all of
    it; return how many bytes the frame takes (header and trailer included)."""
    skipped, result = reference(rule, bytes(rest), at_eof=at_eof, on_eof=on_eof)
    assert skipped == 0, "the manager left noise before a frame"
    assert type(result) is FrameSpan, result
    assert payload == rest[result.start : result.end], (payload, result)
    return result.consume


def _check_none(rule: Rule, rest: bytearray, max_size: int | None, at_eof: bool) -> None:
    """``next_frame`` returned ``None``: then the buffer holds no frame that fits."""
    assert not at_eof, "next_frame() returned None after the end of the stream"
    try:
        _, result = reference(rule, bytes(rest))
    except FramingError:
        return  # a header rule may be asked again only once its declared size is buffered
    if type(result) is FrameSpan:
        assert max_size is not None, result
        assert result.consume > max_size, result


def _split(data: bytes, sizes: list[int]) -> list[bytes]:
    pieces = []
    position = turn = 0
    while position < len(data):
        size = sizes[turn % len(sizes)]
        pieces.append(data[position : position + size])
        position += size
        turn += 1
    return pieces
