"""Delimiter options: ``skip_empty`` (until_delim, until_eot, until_any) and ``keep_delimiter``
(until_any), through every chunking, against reference framers, and counted for linear time."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import (
    PROPERTY,
    ScriptedSocket,
    check_frames,
    check_rule_case,
    chunks_of,
    count_searches,
    cut_at,
    drained_from_chunks,
    drive_counting,
    frames_from_chunks,
)
from streamframer import (
    BufferManager,
    Skip,
    StreamClosed,
    fixed_size,
    length_prefixed,
    read_with_rule,
    until_any,
    until_delim,
    until_eot,
)

KiB = 1024
END = b"\xc0"  # SLIP's END byte
LINE_ENDINGS = (b"\r\n", b"\n", b"\r")


def reference_frames(
    stream: bytes, delims: tuple[bytes, ...], *, keep: bool = False, skip_empty: bool = False
) -> tuple[list[bytes], bytes]:
    """Frames by the definition: the earliest delimiter, the longest of those starting there;
    one that might still grow at the end of the stream leaves the rest unframed."""
    frames = []
    position = at = 0
    while at < len(stream):
        rest = stream[at:]
        if any(len(d) > len(rest) and d.startswith(rest) for d in delims):
            break  # may still become a longer delimiter
        matches = [d for d in delims if rest.startswith(d)]
        if matches:
            delim = max(matches, key=len)
            body = stream[position:at]
            if body or not skip_empty:
                frames.append(body + delim if keep else body)
            position = at = at + len(delim)
        else:
            at += 1
    return frames, stream[position:]


# --------------------------------------------------------------------------------------------
# skip_empty


def test_slip_packets_between_end_bytes() -> None:
    # RFC 1055 senders put END before and after each packet; the empty packets are noise.
    rule = until_eot(0xC0, skip_empty=True)
    wire = END + b"one" + END + END + b"two" + END + END * 3 + b"\xdb\xdc" + END
    check_rule_case(rule, wire, [b"one", b"two", b"\xdb\xdc"], trailing=[b"thr"])


def test_slip_over_a_socket() -> None:
    sock = ScriptedSocket([END + b"one" + END, END * 2 + b"tw", b"o" + END, b""])
    mgr = BufferManager()
    rule = until_eot(0xC0, skip_empty=True)
    got: list[bytes] = []

    def read_all() -> None:
        while True:
            frame = read_with_rule(sock, mgr, rule)
            if frame is not None:
                with frame:
                    got.append(bytes(frame))

    with pytest.raises(StreamClosed) as closed:
        read_all()
    assert got == [b"one", b"two"]
    assert closed.value.partial == b""
    assert mgr.skipped == 3


def test_skipped_empty_frames_are_counted() -> None:
    mgr = BufferManager()
    mgr.feed(b"\n\r\n\na\r\n\r\n")
    rule = until_delim(b"\n", strip=b"\r", skip_empty=True)
    frame = mgr.next_frame(rule)
    assert frame == b"a"
    frame.consume()
    assert mgr.skipped == 4  # b"\n", b"\r\n", b"\n" before the frame
    assert mgr.next_frame(rule) is None
    assert mgr.skipped == 6
    assert len(mgr) == 0


@pytest.mark.parametrize(
    ("rule", "wire", "frames"),
    [
        (until_delim(b"\r\n", skip_empty=True), b"\r\na\r\n\r\n\r\nb\r\n", [b"a", b"b"]),
        (until_delim(b"\n", strip=b"\r", skip_empty=True), b"\r\n\n\r\r\n", [b"\r"]),
        (until_delim(b"aba", skip_empty=True), b"ababa" + b"xaba", [b"bax"]),
        (until_any(LINE_ENDINGS, skip_empty=True), b"\r\n\r\na\n\rb\r\n", [b"a", b"b"]),
    ],
    ids=repr,
)
def test_skip_empty_in_every_chunking(rule: Any, wire: bytes, frames: list[bytes]) -> None:
    check_rule_case(rule, wire, frames, trailing=[b"x", b"\r"])


def test_skip_empty_leaves_the_fast_paths() -> None:
    # The inline, batch and socket paths handle plain delimiters only: skip_empty is the rule's.
    assert until_delim(b"\n")._plain
    assert not until_delim(b"\n", skip_empty=True)._plain
    assert not until_eot(0xC0, skip_empty=True)._plain
    assert until_eot(0xC0, skip_empty=True)(bytearray(END * 2), 0) == Skip(1)


def test_skip_empty_is_part_of_the_rule() -> None:
    assert until_delim(b"\n", skip_empty=True) != until_delim(b"\n")
    assert until_delim(b"\n", skip_empty=True) == until_delim(b"\n", skip_empty=True)
    assert repr(until_eot(0xC0, skip_empty=True)) == "until_eot(0xc0, skip_empty=True)"
    assert (
        repr(until_delim(b"\n", strip=b"\r", skip_empty=True))
        == "until_delim(b'\\n', strip=b'\\r', skip_empty=True)"
    )
    assert repr(until_any((b"\n",), skip_empty=True)) == "until_any((b'\\n',), skip_empty=True)"
    assert repr(until_any((b"\n",), keep_delimiter=True)) == (
        "until_any((b'\\n',), keep_delimiter=True)"
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda: until_delim(b"\n", keep_delimiter=True, skip_empty=True),
        lambda: until_any(LINE_ENDINGS, keep_delimiter=True, skip_empty=True),
    ],
)
def test_skip_empty_and_keep_delimiter_do_not_combine(build: Any) -> None:
    with pytest.raises(ValueError, match="a payload that keeps its delimiter is never empty"):
        build()


@pytest.mark.parametrize(
    "rule",
    [until_eot(0xC0, skip_empty=True), until_any((END, b"\n"), skip_empty=True)],
    ids=repr,
)
def test_empty_frames_cost_linear_scanning(rule: Any) -> None:
    """100 KB of END bytes with a packet now and then, in 1 KiB reads: each byte is examined a
    bounded number of times, skipped or not."""
    stream = (END * 200 + b"packet" + END) * 500
    examined, payloads = drive_counting(rule, stream)
    assert payloads == [b"packet"] * 500
    assert examined <= 4 * len(stream)
    mgr = BufferManager(max_size=None)
    searched = count_searches(mgr)
    packets = 0
    for chunk in chunks_of(stream, KiB):
        mgr.feed(chunk)
        packets += len(mgr.drain(rule))
    assert packets == 500
    assert mgr.skipped == len(stream) - 7 * 500
    assert searched() <= 4 * len(stream)


@PROPERTY
@given(
    delims=st.sampled_from([(b"\n",), (b"\r\n",), (b"aba",), LINE_ENDINGS, (b"a", b"aab")]),
    stream=st.lists(st.sampled_from([b"\n", b"\r", b"a", b"b", b"x"]), max_size=40).map(b"".join),
    options=st.sampled_from([(False, False), (True, False), (False, True)]),
    data=st.data(),
)
def test_options_match_the_definition_in_any_chunking(
    delims: tuple[bytes, ...], stream: bytes, options: tuple[bool, bool], data: st.DataObject
) -> None:
    keep, skip_empty = options
    expected = reference_frames(stream, delims, keep=keep, skip_empty=skip_empty)
    chunks = cut_at(stream, data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    rules = [until_any(delims, keep_delimiter=keep, skip_empty=skip_empty)]
    if len(delims) == 1:
        rules.append(until_delim(delims[0], keep_delimiter=keep, skip_empty=skip_empty))
    for rule in rules:
        assert frames_from_chunks(rule, chunks) == expected, rule
        assert drained_from_chunks(rule, chunks) == expected, rule


# --------------------------------------------------------------------------------------------
# until_any(keep_delimiter=True)


def test_until_any_keeps_the_delimiter_that_ended_the_frame() -> None:
    # asyncio's readuntil((b"\n", b"\r")) tells the caller which separator ended the data.
    rule = until_any(LINE_ENDINGS, keep_delimiter=True)
    check_rule_case(
        rule, b"a\r\nb\nc\r\r\n", [b"a\r\n", b"b\n", b"c\r", b"\r\n"], trailing=[b"d", b"d\r"]
    )
    assert rule.keep_delimiter
    assert not until_any(LINE_ENDINGS).keep_delimiter


def test_until_any_with_more_delimiters_than_the_compiled_search_holds() -> None:
    # The compiled core searches for up to 16 delimiters inline and calls the rule for more.
    rule = until_any([bytes([ord("A") + i]) for i in range(20)])
    check_frames(rule, b"xxAyyTzzS", [b"xx", b"yy", b"zz"], partial=b"ww")


def test_a_length_limit_too_large_for_the_compiled_arithmetic() -> None:
    # Limits beyond a quarter of the address space are left to the rule's own Python ints.
    rule = length_prefixed(8, max_length=2**62)
    check_frames(rule, bytes(7) + b"\x02hi" + bytes(8), [b"hi", b""], partial=bytes(7))


@pytest.mark.parametrize(
    "rule", [fixed_size(2**62), length_prefixed(2, offset=2**62)], ids=["fixed", "offset"]
)
def test_sizes_too_large_for_the_compiled_arithmetic_wait_as_the_rule_says(rule: Any) -> None:
    mgr = BufferManager(None)
    mgr.feed(b"abc")
    assert mgr.drain(rule) == []
    assert mgr.next_frame(rule) is None
    assert len(mgr) == 3
