"""The rules: arguments, the public contract, and the framing property over any chunking.

The property: for any stream and any chunking, a delimiter rule yields exactly
``stream.split(delim)[:-1]`` as frames and leaves ``stream.split(delim)[-1]`` in the buffer,
through ``next_frame()`` and ``drain()`` alike (the socket paths are in ``test_socket.py``).
"""

from __future__ import annotations

import re
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import streamframer
from helpers import (
    DETERMINISTIC,
    buffered,
    check_rule_case,
    cut_at,
    drained_from_chunks,
    frames_from_chunks,
)
from streamframer import (
    BufferManager,
    Delimited,
    FrameSpan,
    FramingError,
    NeedMore,
    RuleResult,
    Skip,
    StreamClosed,
    until_delim,
    until_eot,
)
from streamframer._rules import _contract as rules_module

# (rule, delimiter, strip, keep_delimiter): 1-, 2- and 3-byte delimiters, self-overlapping ones,
# until_eot, and the strip / keep_delimiter options.
RULES: list[tuple[Delimited, bytes, bytes | None, bool]] = [
    (until_delim(b"\n"), b"\n", None, False),
    (until_delim(b"\r\n"), b"\r\n", None, False),
    (until_delim(b"\0\0"), b"\0\0", None, False),
    (until_delim(b"aba"), b"aba", None, False),
    (until_delim(b"aaa"), b"aaa", None, False),
    (until_delim(b"abc"), b"abc", None, False),
    (until_eot(0x04), b"\x04", None, False),
    (until_eot(0), b"\0", None, False),
    (until_delim(b"\n", strip=b"\r"), b"\n", b"\r", False),
    (until_delim(b"\0\0", strip=b"\0"), b"\0\0", b"\0", False),
    (until_delim(b"\n", keep_delimiter=True), b"\n", None, True),
    (until_delim(b"aba", keep_delimiter=True), b"aba", None, True),
]
RULE_IDS = [repr(rule) for rule, *_ in RULES]


def expected_split(
    stream: bytes, delim: bytes, strip: bytes | None = None, keep: bool = False
) -> tuple[list[bytes], bytes]:
    """The frames and leftover ``stream`` must give: ``str.split`` semantics."""
    *frames, leftover = stream.split(delim)
    if keep:
        frames = [frame + delim for frame in frames]
    elif strip is not None:
        frames = [frame[:-1] if frame.endswith(strip) else frame for frame in frames]
    return frames, leftover


def streams_for(delim: bytes) -> st.SearchStrategy[bytes]:
    """Streams rich in delimiters, their prefixes and neighbours (CR, NUL, a, b)."""
    pieces = st.sampled_from([delim, delim[:1], delim[1:], delim[:-1], b"\r", b"\0", b"a", b"b"])
    return st.lists(st.one_of(pieces, st.binary(max_size=3)), max_size=30).map(b"".join)


@st.composite
def stream_and_chunks(draw: Any, delim: bytes) -> tuple[bytes, list[bytes]]:
    stream = draw(streams_for(delim))
    cuts = draw(st.lists(st.integers(0, len(stream)), max_size=12))
    return stream, cut_at(stream, cuts)


# --------------------------------------------------------------------------------------------
# The property, sans-IO


def take_all_at_eof(mgr: BufferManager, rule: Any, got: list[bytes]) -> None:
    while True:
        frame = mgr.next_frame(rule)
        assert frame is not None  # at EOF there is no "need more"
        with frame:
            got.append(bytes(frame))


def check_eof(rule: Any, chunks: list[bytes], frames: list[bytes], leftover: bytes) -> None:
    """After the whole stream and ``feed_eof()``, the frames come out, then StreamClosed."""
    mgr = BufferManager()
    for chunk in chunks:
        mgr.feed(chunk)
    mgr.feed_eof()
    got: list[bytes] = []
    with pytest.raises(StreamClosed) as info:
        take_all_at_eof(mgr, rule, got)
    assert got == frames
    assert info.value.partial == leftover
    assert mgr.at_eof


def check_direct_calls(rule: Any, chunks: list[bytes], delim: bytes, frames: list[bytes]) -> None:
    """Growing a buffer and calling the rule with the scan it asked for finds the first frame
    exactly where ``split`` does, and ``resume`` always stays within the buffer."""
    buffer = bytearray()
    scan = 0
    for chunk in chunks:
        buffer += chunk
        result = rule(buffer, scan)
        if type(result) is NeedMore:
            assert 0 <= result.resume <= len(buffer)
            assert result.frame_size is None
            assert delim not in buffer
            scan = result.resume
            continue
        assert type(result) is FrameSpan
        start, end, consume = result
        assert start == 0
        assert 0 <= start <= end <= consume <= len(buffer)
        assert bytes(buffer[start:end]) == frames[0]
        assert consume == bytes(buffer).index(delim) + len(delim)
        return
    assert not frames


@pytest.mark.parametrize(("rule", "delim", "strip", "keep"), RULES, ids=RULE_IDS)
@DETERMINISTIC
@given(data=st.data())
def test_any_chunking_frames_like_split(
    rule: Delimited, delim: bytes, strip: bytes | None, keep: bool, data: Any
) -> None:
    """Through next_frame() and drain(), with the built-in rule (the manager's inline path) and
    with the same rule wrapped in a plain function (the public contract, generic path); at EOF;
    and calling the rule directly."""

    def wrapped(buffer: bytearray, scan: int) -> RuleResult:
        return rule(buffer, scan)

    stream, chunks = data.draw(stream_and_chunks(delim))
    frames, leftover = expected_split(stream, delim, strip, keep)
    for used in (rule, wrapped):
        assert frames_from_chunks(used, chunks) == (frames, leftover)
        assert drained_from_chunks(used, chunks) == (frames, leftover)
        check_eof(used, chunks, frames, leftover)
    check_direct_calls(rule, chunks, delim, frames)


def test_rule_cases_in_every_chunking() -> None:
    """Hand-picked cases: all at once, byte by byte, in random chunkings, with trailing bytes."""
    check_rule_case(
        until_delim(b"\n"), b"a\nbb\n\nccc\n", [b"a", b"bb", b"", b"ccc"], trailing=[b"x", b"xy"]
    )
    check_rule_case(until_delim(b"aba"), b"ababa", [b""], b"ba", trailing=[b"b", b"bb"])
    check_rule_case(until_delim(b"aaa"), b"aaaaaaaa", [b"", b""], b"aa")
    check_rule_case(until_delim(b"\0\0"), b"x\0\0\0y\0\0", [b"x", b"\0y"], trailing=[b"\0"])
    check_rule_case(
        until_delim(b"\r\n"), b"a\rb\r\n\r\r\nc", [b"a\rb", b"\r"], b"c", trailing=[b"\r"]
    )
    check_rule_case(until_eot(4), b"\x04ab\x04", [b"", b"ab"], trailing=[b"tail"])
    check_rule_case(
        until_delim(b"\n", strip=b"\r"), b"a\r\nb\n\r\n\r\r\n", [b"a", b"b", b"", b"\r"]
    )
    check_rule_case(until_delim(b"\n", keep_delimiter=True), b"a\n\nb", [b"a\n", b"\n"], b"b")
    big = bytes(range(256)) * 40
    check_rule_case(until_delim(b"\xff\xfe"), big + b"\xff\xfe" + big, [big], big)


# --------------------------------------------------------------------------------------------
# The contract


def test_delimited_called_directly() -> None:
    crlf = until_delim(b"\n", strip=b"\r")
    assert crlf(bytearray(b"ab\r\nc"), 0) == FrameSpan(0, 2, 4)
    assert crlf(bytearray(b"ab\nc"), 0) == FrameSpan(0, 2, 3)
    assert crlf(bytearray(b"\r\n"), 0) == FrameSpan(0, 0, 2)
    assert crlf(bytearray(b"\n"), 0) == FrameSpan(0, 0, 1)
    assert until_delim(b"\n", keep_delimiter=True)(bytearray(b"ab\nc"), 0) == FrameSpan(0, 3, 3)
    assert until_delim(b"aba")(bytearray(b"xxab"), 0) == NeedMore(2)
    assert until_delim(b"aba")(bytearray(b"xxab"), 2) == NeedMore(2)
    assert until_delim(b"aba")(bytearray(b"xxaba"), 2) == FrameSpan(0, 2, 5)


def test_result_types_are_named_tuples() -> None:
    assert NeedMore(3) == (3, None)
    assert NeedMore(3, 10).frame_size == 10
    assert FrameSpan(1, 2, 3)._asdict() == {"start": 1, "end": 2, "consume": 3}


def test_docstring_example_rule_works() -> None:
    """The custom rule shown in the rule contract's docstring runs as documented."""
    doc = rules_module.__doc__ or ""
    match = re.search(r"::\n\n((?:    .*\n|\n)+)", doc)
    assert match is not None, "no code example in the rules docstring"
    code = "\n".join(line[4:] for line in match.group(1).splitlines())
    namespace: dict[str, Any] = {"NeedMore": NeedMore, "FrameSpan": FrameSpan}
    exec(code, namespace)
    rule = namespace["u16_prefixed"]
    data = struct.pack(">H", 3) + b"abc" + struct.pack(">H", 0) + struct.pack(">H", 5) + b"he"
    check_rule_case(rule, data, [b"abc", b""], struct.pack(">H", 5) + b"he")


def redis_bulk(buffer: bytearray, scan: int) -> RuleResult:
    """A RESP bulk string ``$<n>\\r\\n<n bytes>\\r\\n``, written from the contract alone."""
    header_end = buffer.find(b"\r\n", max(0, scan - 1))
    if header_end < 0:
        return NeedMore(max(0, len(buffer) - 1))
    if buffer[:1] != b"$" or not buffer[1:header_end].isdigit():
        raise FramingError(f"bad bulk header {bytes(buffer[:header_end])!r}", 0)
    start = header_end + 2
    end = start + int(buffer[1:header_end])
    if len(buffer) < end + 2:
        return NeedMore(header_end, frame_size=end + 2)
    if buffer[end : end + 2] != b"\r\n":
        raise FramingError(f"bulk string not ended by CRLF: {bytes(buffer[end : end + 2])!r}", end)
    return FrameSpan(start, end, end + 2)


def test_custom_rule_with_header_and_body() -> None:
    data = b"$3\r\nabc\r\n$0\r\n\r\n$12\r\nhello\r\nworld\r\n"
    check_rule_case(redis_bulk, data, [b"abc", b"", b"hello\r\nworld"], trailing=[b"$4\r\nab"])


def test_framing_error_from_a_rule_keeps_the_bytes() -> None:
    mgr = BufferManager()
    mgr.feed(b"$2\r\nok\r\n*oops\r\n")
    frame = mgr.next_frame(redis_bulk)
    assert frame == b"ok"
    frame.consume()
    with pytest.raises(FramingError, match=r"bad bulk header b'\*oops'") as info:
        mgr.next_frame(redis_bulk)
    assert info.value.offset == 0
    assert isinstance(info.value, streamframer.StreamFramerError)
    assert bytes(mgr.view()) == b"*oops\r\n"
    mgr.discard(7)  # the documented recovery: skip the bad bytes
    mgr.feed(b"$1\r\nz\r\n")
    assert mgr.next_frame(redis_bulk) == b"z"


# --------------------------------------------------------------------------------------------
# Arguments


# Typed as Any: these calls pass wrong types on purpose; and ``until_delim`` is annotated ``bytes``
# although it accepts (and documents) any bytes-like delimiter.
any_delim: Any = until_delim
any_eot: Any = until_eot


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: any_delim(b""), ValueError, "must not be empty"),
        (lambda: any_delim(bytearray()), ValueError, "must not be empty"),
        (lambda: any_delim("x"), TypeError, "must be bytes, not str"),
        (lambda: any_delim(10), TypeError, "must be bytes, not int"),
        (lambda: any_delim(None), TypeError, "must be bytes, not NoneType"),
        (lambda: any_delim(b"\n", strip="\r"), TypeError, "strip must be bytes"),
        (lambda: any_delim(b"\n", strip=13), TypeError, "strip must be bytes"),
        (lambda: any_delim(b"\n", strip=b""), ValueError, "exactly one byte"),
        (lambda: any_delim(b"\n", strip=b"\r\r"), ValueError, "exactly one byte"),
        (lambda: any_delim(b"\n", strip=b"\r", keep_delimiter=True), ValueError, "cannot be"),
        (lambda: any_eot(256), ValueError, "0-255, got 256"),
        (lambda: any_eot(-1), ValueError, "0-255, got -1"),
        (lambda: any_eot(True), TypeError, "not bool"),
        (lambda: any_eot(b"\x04"), TypeError, "not bytes"),
        (lambda: any_eot("\x04"), TypeError, "not str"),
        (lambda: any_eot(4.0), TypeError, "not float"),
    ],
)
def test_bad_rule_arguments(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_delimiter_accepts_any_bytes_like() -> None:
    for delim in (b"\r\n", bytearray(b"\r\n"), memoryview(b"\r\n")):
        rule = any_delim(delim)
        assert rule.delimiter == b"\r\n"
        assert type(rule.delimiter) is bytes  # a copy: later changes to a bytearray do not leak
    source = bytearray(b"\n")
    rule = any_delim(source)
    source[0] = ord("x")
    assert frames_from_chunks(rule, [b"a\nx"]) == ([b"a"], b"x")


def test_repr_names_the_rule() -> None:
    assert repr(until_eot(4)) == "until_eot(0x04)"
    assert repr(until_delim(b"\r\n")) == "until_delim(b'\\r\\n')"
    assert repr(until_delim(b"\n", strip=b"\r")) == "until_delim(b'\\n', strip=b'\\r')"
    assert repr(until_delim(b"\n", keep_delimiter=True)) == (
        "until_delim(b'\\n', keep_delimiter=True)"
    )


@pytest.mark.parametrize(
    ("result", "condition"),
    [
        (FrameSpan(0, 1, 99), "consume 99 > 3 buffered bytes"),
        (FrameSpan(-1, 1, 2), "start -1 < 0"),
        (FrameSpan(2, 1, 3), "end 1 < start 2"),
        (FrameSpan(0, 3, 2), "consume 2 < end 3"),
        (FrameSpan(0, 0, 0), "consume must be positive, got 0"),
        (NeedMore(-1), "resume -1 < 0"),
        (NeedMore(7), "resume 7 > 3 buffered bytes"),
        (Skip(0), "nbytes must be positive, got 0"),
        (Skip(4), "nbytes 4 > 3 buffered bytes"),
    ],
    ids=repr,
)
def test_a_bad_rule_result_names_the_broken_condition(result: RuleResult, condition: str) -> None:
    def bad_rule(buffer: bytearray, scan: int) -> RuleResult:
        return result

    mgr = BufferManager()
    mgr.feed(b"abc")
    with pytest.raises(ValueError, match="returned") as caught:
        mgr.next_frame(bad_rule)
    assert str(caught.value) == (
        f"{bad_rule!r} returned {result!r} for a buffer of 3 bytes: {condition}"
    )
    assert buffered(mgr) == b"abc"  # nothing lost
