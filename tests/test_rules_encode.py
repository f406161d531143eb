"""Encoders, the way back out: ``rule.encode(payload)`` for every built-in rule.

The property, for every rule: any payloads, each encoded (or refused), the frames concatenated,
fed in any chunking, decode to exactly the payloads that were accepted, nothing left over. A
refusal must be right: the frame the encoder would have built does not decode to the payload.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import (
    PROPERTY,
    check_rule_case,
    cut_at,
    drained_from_chunks,
    frames_from_chunks,
    run_rule,
)
from streamframer import (
    FramingError,
    between,
    fixed_size,
    ieee_block,
    length_prefixed,
    netstring,
    scpi_response,
    until_any,
    until_delim,
    until_eot,
    varint_prefixed,
)

STX, ETX = b"\x02", b"\x03"


def bcc(frame: bytes) -> bytes:
    """The XOR of the bytes after STX, ETX included: the BCC of many serial instruments."""
    return bytes((functools.reduce(operator.xor, frame[1:], 0),))


def pieces(*alphabet: bytes, max_size: int = 12) -> st.SearchStrategy[bytes]:
    """Payloads made of the given pieces and random bytes: rich in delimiters and their parts."""
    piece = st.one_of(st.sampled_from(alphabet), st.binary(max_size=2))
    return st.lists(piece, max_size=max_size).map(b"".join)


def varint(value: int) -> bytes:
    """The reference LEB128 encoder."""
    out = bytearray()
    while value >= 0x80:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(out + bytes((value,)))


def decodes_to(rule: Any, frame: bytes, payload: bytes) -> bool:
    """Whether ``frame`` alone decodes to exactly ``payload``, nothing left over."""
    try:
        return run_rule(rule, [frame]) == ([payload], b"")
    except FramingError:
        return False


@dataclass
class Case:
    """A rule, payloads to try, the keyword arguments its encoder needs, and a reference: the
    frame a payload should become (refused if, and only if, that frame does not decode back to
    it), or else which payloads the rule cannot frame."""

    rule: Any
    payloads: st.SearchStrategy[bytes]
    naive: Callable[[bytes], bytes] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    unframable: Callable[[bytes], bool] = lambda payload: False

    def refuses(self, payload: bytes) -> bool:
        if self.naive is not None:
            return not decodes_to(self.rule, self.naive(payload), payload)
        return self.unframable(payload)

    def __repr__(self) -> str:
        return repr(self.rule)


def delimited(rule: Any, delim: bytes, *extra: bytes) -> Case:
    return Case(rule, pieces(delim, delim[:1], delim[1:], *extra), lambda p: p + delim)


LINE_ENDINGS = (b"\r\n", b"\n", b"\r")
CASES = [
    delimited(until_delim(b"\n"), b"\n"),
    delimited(until_delim(b"\r\n"), b"\r\n"),
    delimited(until_delim(b"aba"), b"aba", b"a", b"b"),
    delimited(until_delim(b"\0\0"), b"\0\0"),
    Case(until_delim(b"\n", strip=b"\r"), pieces(b"\n", b"\r"), lambda p: p + b"\r\n"),
    # A strip byte that can never stand before the delimiter (b"\0" + b"\0\0" holds it
    # earlier) is not sent.
    Case(until_delim(b"\0\0", strip=b"\0"), pieces(b"\0"), lambda p: p + b"\0\0"),
    Case(until_delim(b"\n", keep_delimiter=True), pieces(b"\n", b"x"), lambda p: p),
    Case(until_delim(b"aba", keep_delimiter=True), pieces(b"aba", b"a", b"b"), lambda p: p),
    delimited(until_eot(0x04), b"\x04"),
    delimited(until_eot(0xC0), b"\xc0"),
    delimited(until_eot(0xC0, skip_empty=True), b"\xc0"),
    Case(
        until_delim(b"\n", strip=b"\r", skip_empty=True),
        pieces(b"\n", b"\r"),
        lambda p: p + b"\r\n",
    ),
    Case(
        until_any(LINE_ENDINGS, keep_delimiter=True),
        pieces(*LINE_ENDINGS, b"x"),
        lambda p: p,
    ),
    delimited(until_any(LINE_ENDINGS), b"\r\n", b"\n", b"\r"),
    delimited(until_any((b"\n", b"\r\n", b"\r")), b"\n", b"\r"),
    delimited(until_any((b"\r", b"\r\n")), b"\r", b"\n"),
    delimited(until_any((b"c", b"abcd")), b"c", b"a", b"b", b"d"),
    Case(fixed_size(3), pieces(b"abc", max_size=3), lambda p: p),
    Case(length_prefixed(1), st.binary(max_size=300), unframable=lambda p: len(p) > 255),
    Case(length_prefixed(1, max_length=5), st.binary(max_size=8), unframable=lambda p: len(p) > 5),
    Case(length_prefixed(2, offset=4), st.binary(max_size=20), options={"header": b"\0\1\0\0"}),
    Case(
        length_prefixed(2, offset=4, payload_offset=7),
        st.binary(max_size=20),
        options={"header": b"\0\1\0\0", "after_length": b"\x11"},
    ),
    Case(length_prefixed(4, offset=1, adjust=-4), st.binary(max_size=20), options={"header": b"Q"}),
    Case(
        length_prefixed(3, byteorder="little", adjust=1, payload_offset=4),
        st.binary(max_size=20),
        options={"after_length": b"\x07"},
    ),
    Case(length_prefixed(2, adjust=3), st.binary(max_size=6), unframable=lambda p: len(p) < 3),
    Case(
        length_prefixed(4, offset=8, adjust=12, payload_offset=24),
        st.binary(max_size=20),
        options={"header": b"\x81\0\0\0\0\0\0\0", "after_length": bytes(12)},
    ),
    Case(
        length_prefixed(2, offset=2, byteorder="little", magic=b"#A"),
        st.binary(max_size=20),
        lambda p: b"#A" + len(p).to_bytes(2, "little") + p,
    ),
    Case(varint_prefixed(), st.binary(max_size=300), lambda p: varint(len(p)) + p),
    Case(
        varint_prefixed(offset=1, max_bytes=1),
        st.binary(max_size=130),
        options={"header": b"\x30"},
        unframable=lambda p: len(p) > 127,
    ),
    Case(varint_prefixed(adjust=2), st.binary(max_size=5), unframable=lambda p: len(p) < 2),
    Case(netstring(), st.binary(max_size=120), lambda p: b"%d:%s," % (len(p), p)),
    Case(netstring(max_length=5), st.binary(max_size=8), unframable=lambda p: len(p) > 5),
    Case(ieee_block(), st.binary(max_size=40)),
    Case(ieee_block(None), st.binary(max_size=40)),
    Case(ieee_block(b"\r\n", indefinite="terminator"), st.binary(max_size=40)),
    Case(scpi_response(), pieces(b"\n", b"#", b"#H", b"#1"), lambda p: p + b"\n"),
    Case(scpi_response(b"\r\n"), pieces(b"\r\n", b"\r", b"#"), lambda p: p + b"\r\n"),
    Case(between(STX, ETX), pieces(STX, ETX), lambda p: STX + p + ETX),
    Case(between(b"<<", b">>"), pieces(b"<<", b">>", b">"), lambda p: b"<<" + p + b">>"),
    Case(
        between(STX, ETX, trailer=1),
        pieces(STX, ETX),
        lambda p: STX + p + ETX + bcc(STX + p + ETX),
        {"trailer": bcc},
    ),
    Case(
        between(STX, ETX, trailer=2, keep_markers=True),
        pieces(STX, ETX, STX + b"a" + ETX + b"xy"),
        lambda p: p,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
@settings(PROPERTY, max_examples=20)  # times 40 rules
@given(data=st.data())
def test_encoded_payloads_decode_back_in_any_chunking(case: Case, data: st.DataObject) -> None:
    payloads = data.draw(st.lists(case.payloads, max_size=8), label="payloads")
    frames, accepted = [], []
    for payload in payloads:
        try:
            frame = case.rule.encode(payload, **case.options)
        except ValueError:
            assert case.refuses(payload), payload
            continue
        assert not case.refuses(payload), payload
        if case.naive is not None:
            assert frame == case.naive(payload)
        frames.append(frame)
        accepted.append(payload)
    stream = b"".join(frames)
    chunks = cut_at(stream, data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    assert frames_from_chunks(case.rule, chunks) == (accepted, b"")
    assert drained_from_chunks(case.rule, chunks) == (accepted, b"")


@pytest.mark.parametrize(
    ("rule", "payload", "options", "wire"),
    [
        (until_delim(b"\n"), b"abc", {}, b"abc\n"),
        (until_delim(b"\n"), b"", {}, b"\n"),
        # The strip byte goes out too: CR LF lines, and a payload's own last CR survives.
        (until_delim(b"\n", strip=b"\r"), b"abc", {}, b"abc\r\n"),
        (until_delim(b"\n", strip=b"\r"), b"abc\r", {}, b"abc\r\r\n"),
        # A strip byte that can never stand before the delimiter is not sent.
        (until_delim(b"\n", strip=b"\n"), b"abc", {}, b"abc\n"),
        (until_delim(b"\n", keep_delimiter=True), b"abc\n", {}, b"abc\n"),
        (until_eot(0x04), b"abc", {}, b"abc\x04"),
        (until_any((b"\n", b"\r\n")), b"abc", {}, b"abc\n"),
        (until_any((b"\r\n", b"\n")), b"abc", {}, b"abc\r\n"),
        (fixed_size(3), b"abc", {}, b"abc"),
        (length_prefixed(2), b"abc", {}, b"\0\3abc"),
        (length_prefixed(2, byteorder="little"), b"abc", {}, b"\3\0abc"),
        # Modbus TCP: read holding registers, transaction 1, unit 0x11.
        (
            length_prefixed(2, offset=4),
            b"\x11\x03\x00\x6b\x00\x03",
            {"header": b"\0\1\0\0"},
            b"\0\1\0\0\0\6\x11\x03\x00\x6b\x00\x03",
        ),
        (
            length_prefixed(2, offset=4, payload_offset=7),
            b"\x03\x00\x6b\x00\x03",
            {"header": b"\0\1\0\0", "after_length": b"\x11"},
            b"\0\1\0\0\0\6\x11\x03\x00\x6b\x00\x03",
        ),
        # The whole frame as the payload: its length field must already be right.
        (length_prefixed(2, offset=1, payload_offset=0), b"T\0\2hi", {}, b"T\0\2hi"),
        (length_prefixed(2, offset=2, payload_offset=3), b"\2hi", {"header": b"AB"}, b"AB\0\2hi"),
        # PostgreSQL: the length counts itself.
        (length_prefixed(4, offset=1, adjust=-4), b"hi", {"header": b"Q"}, b"Q\0\0\0\6hi"),
        (varint_prefixed(), b"x" * 300, {}, b"\xac\x02" + b"x" * 300),
        (
            varint_prefixed(offset=1, max_bytes=4),
            b"\0\4MQTT",
            {"header": b"\x10"},
            b"\x10\6\0\4MQTT",
        ),
        (varint_prefixed(offset=1, payload_offset=0), b"\x10\2ab", {}, b"\x10\2ab"),
        # A payload_offset past the varint: after_length sets the varint's size (padded).
        (
            varint_prefixed(offset=1, payload_offset=4),
            b"ab",
            {"header": b"H", "after_length": b"z"},
            b"H\x83\x00zab",
        ),
        (netstring(), b"hello", {}, b"5:hello,"),
        (netstring(), b"", {}, b"0:,"),
        (ieee_block(), b"hello", {}, b"#15hello\n"),
        (ieee_block(), b"", {}, b"#10\n"),
        (ieee_block(None), b"x" * 12, {}, b"#212" + b"x" * 12),
        (ieee_block(b"\r\n"), b"\n\n", {}, b"#12\n\n\r\n"),
        (scpi_response(), b"+1.25E-3", {}, b"+1.25E-3\n"),
        (scpi_response(), b"#H1F", {}, b"#H1F\n"),
        (between(STX, ETX), b"abc", {}, b"\x02abc\x03"),
        (between(STX, ETX), b"a\x02c", {}, b"\x02a\x02c\x03"),
        (between(STX, ETX, trailer=1), b"ac", {"trailer": bcc}, b"\x02ac\x03\x01"),
        (between(STX, ETX, trailer=2), b"ab", {"trailer": b"\r\n"}, b"\x02ab\x03\r\n"),
        (between(STX, ETX, trailer=1, keep_markers=True), b"\x02a\x03!", {}, b"\x02a\x03!"),
    ],
    ids=repr,
)
def test_encoded_frames(rule: Any, payload: bytes, options: dict[str, Any], wire: bytes) -> None:
    assert rule.encode(payload, **options) == wire
    check_rule_case(rule, wire * 3, [payload] * 3)


def test_encode_accepts_any_bytes_like() -> None:
    rule = length_prefixed(1)
    assert rule.encode(bytearray(b"ab")) == rule.encode(memoryview(b"ab")) == b"\2ab"
    assert length_prefixed(1, offset=1).encode(b"", header=bytearray(b"H")) == b"H\0"


def test_until_any_repr_builds_a_rule_that_encodes_alike() -> None:
    rule = until_any((b"\n", b"\r", b"\r\n"))
    assert repr(rule) == "until_any((b'\\n', b'\\r\\n', b'\\r'))"
    assert rule.delimiters == (b"\r\n", b"\n", b"\r")  # the matching order stays longest first
    assert rule.encode_delimiter == b"\n"
    assert eval(repr(rule)).encode(b"x") == b"x\n"


MODBUS = length_prefixed(2, offset=4)


@pytest.mark.parametrize(
    ("rule", "payload", "options", "message"),
    [
        (
            until_delim(b"\n"),
            b"a\nb",
            {},
            r"holding its delimiter b'\\n': .* offset 1 of b'a\\nb\\n'",
        ),
        # A payload ending with the start of a self-overlapping delimiter ends the frame early.
        (until_delim(b"aba"), b"xab", {}, r"delimiter b'aba': it would end the frame at offset 1"),
        (until_delim(b"\r\n"), b"a\r\nb", {}, r"delimiter b'\\r\\n': .* at offset 1"),
        (until_delim(b"\n", keep_delimiter=True), b"abc", {}, "must end with its delimiter"),
        (until_delim(b"\n", keep_delimiter=True), b"", {}, "must end with its delimiter"),
        (until_delim(b"\n", keep_delimiter=True), b"a\nb\n", {}, "at offset 1 of b'a\\\\nb\\\\n'"),
        (until_eot(0x04), b"a\x04", {}, r"until_eot\(0x04\) cannot .* b'\\x04'"),
        (until_any(LINE_ENDINGS), b"a\rb", {}, r"delimiter b'\\r': .* at offset 1"),
        # The frame would not end before the next byte: it may be the LF of CR LF.
        (until_any((b"\r", b"\r\n")), b"a", {}, "may begin a longer delimiter"),
        (until_any((b"\n", b"\r\n")), b"a\r", {}, r"b'\\r\\n': it would end the frame at offset 1"),
        (until_any((b"\n", b"x\nyz")), b"ax", {}, r"from offset 1 of b'ax\\n' may begin a longer"),
        (until_eot(0xC0, skip_empty=True), b"", {}, "cannot encode an empty payload"),
        (until_delim(b"\r\n", skip_empty=True), b"", {}, "an empty payload"),
        (until_any(LINE_ENDINGS, skip_empty=True), b"", {}, "it drops empty frames"),
        (until_any(LINE_ENDINGS, keep_delimiter=True), b"a", {}, "end with one of its delimiters"),
        (until_any(LINE_ENDINGS, keep_delimiter=True), b"a\r", {}, "may begin a longer"),
        (until_any(LINE_ENDINGS, keep_delimiter=True), b"a\nb\n", {}, r"b'\\n': .* offset 1"),
        (fixed_size(3), b"ab", {}, r"fixed_size\(3\) cannot encode a payload of 2 bytes"),
        (fixed_size(3), b"abcd", {}, "of 4 bytes: its frames hold exactly 3"),
        (length_prefixed(1), bytes(256), {}, "length 256 does not fit a 1-byte length field"),
        (length_prefixed(1, max_length=5), bytes(6), {}, "length 6 exceeds max_length=5"),
        (length_prefixed(2, adjust=3), b"ab", {}, r"declared length of -1 \(adjust=3\)"),
        (length_prefixed(2, payload_offset=0), b"\0", {}, "shorter than its 2-byte header"),
        (MODBUS, b"\x11", {}, r"needs header=, the 4 bytes before the length field"),
        (MODBUS, b"\x11", {"header": b"\0\1"}, "needs header= of 4 bytes.*got 2: b'\\\\x00"),
        (length_prefixed(2), b"", {"header": b"X"}, "has no bytes before the length field"),
        (
            length_prefixed(2, offset=4, payload_offset=7),
            b"\x03",
            {"header": b"\0\1\0\0"},
            "needs after_length=, the 1 bytes between the length field and the payload",
        ),
        (length_prefixed(2), b"", {"after_length": b"X"}, "has no bytes between the length"),
        (
            length_prefixed(2, payload_offset=0),
            b"\0\5abc",
            {},
            r"holds the length field as b'\\x00\\x05': .* needs the length 3 there",
        ),
        (length_prefixed(2, payload_offset=1), b"\0abc", {"after_length": b""}, "length 3"),
        (varint_prefixed(max_length=3), b"abcd", {}, "length 4 exceeds max_length=3"),
        (varint_prefixed(max_bytes=1), bytes(128), {}, "needs a 2-byte varint, more than 1"),
        (varint_prefixed(adjust=2), b"a", {}, r"declared length of -1 \(adjust=2\)"),
        (varint_prefixed(offset=1), b"a", {}, "needs header=, the 1 bytes before the varint"),
        (varint_prefixed(), b"a", {"after_length": b"x"}, "has no bytes after the varint"),
        (
            varint_prefixed(offset=1, payload_offset=2),
            bytes(200),
            {"header": b"H"},
            "needs a 2-byte varint, more than 1",
        ),
        (
            varint_prefixed(offset=1, payload_offset=2),
            b"",
            {"header": b"H", "after_length": b"x"},
            "leaves 0 bytes for the varint",
        ),
        (
            varint_prefixed(offset=1, payload_offset=0),
            b"\x10\x03ab",
            {},
            r"holds the varint: .* reads as NeedMore\(resume=4, frame_size=5\)",
        ),
        (varint_prefixed(payload_offset=0), b"\x80", {}, "reads as NeedMore"),
        (varint_prefixed(max_bytes=1, payload_offset=0), b"\x80\x01", {}, "runs past max_bytes"),
        (netstring(max_length=3), b"abcd", {}, "payload of 4 bytes: more than max_length=3"),
        (scpi_response(), b"1\n2", {}, r"terminator b'\\n': it would end the frame at offset 1"),
        (scpi_response(), b"#15hello", {}, r"starting with b'#1' is read as a block"),
        (scpi_response(), b"#", {}, r"starting with b'#' is read as a block"),
        (between(STX, ETX), b"a\x03b", {}, r"stop marker b'\\x03': .* at offset 1"),
        (between(b"<", b"aba"), b"xab", {}, r"stop marker b'aba': .* at offset 1"),
        (between(STX, ETX, trailer=1), b"a", {}, r"needs trailer=, the 1 bytes after the stop"),
        (between(STX, ETX, trailer=1), b"a", {"trailer": b"xy"}, "needs trailer= of 1 bytes"),
        (between(STX, ETX, trailer=1), b"a", {"trailer": lambda f: b""}, "got 0: b''"),
        (between(STX, ETX), b"a", {"trailer": b"x"}, r"has no bytes after the stop marker"),
        (between(STX, ETX, keep_markers=True), b"a\x03", {}, r"must start with b'\\x02'"),
        (between(STX, ETX, keep_markers=True), b"\x02a", {}, r"must end with its stop marker"),
        (between(STX, ETX, keep_markers=True), b"\x02\x03a\x03", {}, "at offset 0"),
        (between(STX, ETX, trailer=3, keep_markers=True), b"\x02a\x03xy", {}, "must end with"),
        (
            between(STX, ETX, trailer=1, keep_markers=True),
            b"\x02\x03!",
            {"trailer": b"!"},
            "inside",
        ),
    ],
    ids=repr,
)
def test_encode_refuses(rule: Any, payload: bytes, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rule.encode(payload, **options)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: until_delim(b"\n").encode("text"), "payload must be bytes, not str"),
        (lambda: fixed_size(1).encode(1), "payload must be bytes, not int"),
        (lambda: netstring().encode("text"), "payload must be bytes, not str"),
        (lambda: varint_prefixed(offset=1).encode(b"", header="H"), "header must be bytes"),
        (lambda: MODBUS.encode(b"", header="abcd"), "header must be bytes, not str"),
        (lambda: between(STX, ETX, trailer=1).encode(b"", trailer=7), "trailer must be bytes"),
    ],
)
def test_encode_type_errors(call: Callable[[], object], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        call()


@pytest.mark.parametrize(
    ("rule", "payload", "wire"),
    [
        (until_eot(0xC0, skip_empty=True), b"packet", b"packet\xc0"),
        (until_delim(b"\n", strip=b"\r", skip_empty=True), b"\r", b"\r\r\n"),
        (until_any(LINE_ENDINGS, skip_empty=True), b"a", b"a\r\n"),
        (until_any(LINE_ENDINGS, keep_delimiter=True), b"a\n", b"a\n"),
    ],
    ids=repr,
)
def test_encode_with_options(rule: Any, payload: bytes, wire: bytes) -> None:
    assert rule.encode(payload) == wire
