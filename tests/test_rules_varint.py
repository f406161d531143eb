"""varint_prefixed and netstring: lengths in a varint and in decimal digits."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import (
    PROPERTY,
    check_error,
    check_rule_case,
    chunks_of,
    count_work,
    cut_at,
    drained_from_chunks,
    drive_counting,
    frames_from_chunks,
)
from streamframer import (
    BufferManager,
    FrameDiscarded,
    FrameTooLarge,
    FramingError,
    NeedMore,
    StreamClosed,
    netstring,
    varint_prefixed,
)

KiB = 1024
MiB = 1024 * KiB


def varint(value: int) -> bytes:
    """The reference LEB128 encoder, as protobuf's ``_VarintBytes`` writes it."""
    out = bytearray()
    while value >= 0x80:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def reference_netstring(data: bytes) -> bytes:
    return str(len(data)).encode() + b":" + data + b","


# --------------------------------------------------------------------------------------------
# varint_prefixed


def test_protobuf_delimited_messages() -> None:
    messages = [b"", b"\x08\x96\x01", b"m" * 127, b"M" * 128, b"x" * 300]
    wire = b"".join(varint(len(m)) + m for m in messages)
    assert varint(300) == b"\xac\x02"
    check_rule_case(varint_prefixed(), wire, messages, trailing=[b"\x80", b"\xac\x02xx"])


def test_mqtt_remaining_length() -> None:
    # CONNECT (0x10) with 10 bytes, PINGREQ (0xC0) with none, a PUBLISH of 321 bytes.
    packets = [b"\x10\x0a" + bytes(10), b"\xc0\x00", b"\x30\xc1\x02" + bytes(321)]
    rule = varint_prefixed(offset=1, max_bytes=4)
    check_rule_case(rule, b"".join(packets), [bytes(10), b"", bytes(321)], trailing=[b"\x30"])
    whole = varint_prefixed(offset=1, max_bytes=4, payload_offset=0)
    check_rule_case(whole, b"".join(packets), packets, trailing=[b"\x30\xc1"])


def test_adjust_and_payload_offset() -> None:
    # A length that counts its own (one-byte) varint, after a 2-byte header.
    rule = varint_prefixed(offset=2, adjust=-1, payload_offset=0)
    frame = b"hd\x04abc"
    check_rule_case(rule, frame * 2, [frame, frame])


def test_size_is_reported_from_the_varint() -> None:
    rule = varint_prefixed(offset=1, max_bytes=4)
    assert rule(bytearray(b"\x30\xc1\x02ab"), 0) == NeedMore(5, frame_size=324)
    assert rule(bytearray(b"\x30\xc1"), 0) == NeedMore(2)
    mgr = BufferManager(max_size=100)
    mgr.feed(b"\x30\xc1\x02")
    with pytest.raises(FrameTooLarge) as caught:
        mgr.next_frame(rule)
    assert (caught.value.limit, caught.value.size) == (100, 324)


def test_oversized_frame_is_discarded_exactly() -> None:
    mgr = BufferManager(max_size=64, on_overflow="discard")
    rule = varint_prefixed()
    mgr.feed(varint(200) + bytes(200) + varint(2) + b"ok")
    with pytest.raises(FrameDiscarded) as caught:
        mgr.next_frame(rule)
    assert caught.value.size == 202
    frame = mgr.next_frame(rule)
    assert frame == b"ok"


@pytest.mark.parametrize(
    ("rule", "wire", "offset", "message"),
    [
        (varint_prefixed(max_bytes=4), b"\xff\xff\xff\xff", 0, r"runs past max_bytes=4: b'\\xff"),
        (varint_prefixed(offset=1, max_bytes=2), b"\x30\x80\x80", 1, "at offset 1 runs past"),
        (varint_prefixed(max_length=5), b"\x06abcdef", 0, "length 6 exceeds max_length=5"),
        (varint_prefixed(adjust=-3), b"\x01a", 0, "frame of -1 bytes, fewer than the 1"),
        (varint_prefixed(payload_offset=4), b"\x01a", 0, "frame of 2 bytes, fewer than the 4"),
    ],
    ids=repr,
)
def test_varint_framing_errors(rule: Any, wire: bytes, offset: int, message: str) -> None:
    check_error(rule, wire, FramingError, match=message, offset=offset)


def test_a_too_long_varint_is_refused_before_more_bytes() -> None:
    # The fourth byte still says "more": no need to wait for a fifth.
    with pytest.raises(FramingError, match="max_bytes=4"):
        varint_prefixed(max_bytes=4)(bytearray(b"\x80\x80\x80\x80"), 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_bytes": 0}, ValueError, "max_bytes must be 1-10, got 0"),
        ({"max_bytes": 11}, ValueError, "max_bytes must be 1-10, got 11"),
        ({"max_bytes": 1, "max_length": 128}, ValueError, "more than a 1-byte varint can hold"),
        ({"offset": -1}, ValueError, "offset must be at least 0"),
        ({"max_length": 3, "adjust": -4}, ValueError, "no declared length can give a valid"),
        ({"payload_offset": "1"}, TypeError, "payload_offset must be an int"),
        ({"adjust": 1.5}, TypeError, "adjust must be an int"),
    ],
    ids=repr,
)
def test_varint_prefixed_refuses(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        varint_prefixed(**kwargs)


def test_varint_repr() -> None:
    assert repr(varint_prefixed()) == "varint_prefixed()"
    assert repr(varint_prefixed(offset=1, max_bytes=4, payload_offset=0)) == (
        "varint_prefixed(offset=1, max_bytes=4, payload_offset=0)"
    )


@PROPERTY
@given(
    offset=st.integers(0, 3),
    adjust=st.integers(0, 3),
    keep_header=st.booleans(),
    bodies=st.lists(st.binary(max_size=300), max_size=6),
    data=st.data(),
)
def test_varint_against_the_reference_encoder(
    offset: int, adjust: int, keep_header: bool, bodies: list[bytes], data: st.DataObject
) -> None:
    rule = varint_prefixed(offset=offset, adjust=adjust, payload_offset=0 if keep_header else None)
    frames, expected = [], []
    for body in bodies:
        body += bytes(max(0, adjust - len(body)))  # the adjust bytes are part of the body
        header = data.draw(st.binary(min_size=offset, max_size=offset))
        frame = header + varint(len(body) - adjust) + body
        frames.append(frame)
        expected.append(frame if keep_header else body)
        if keep_header:
            assert rule.encode(frame) == frame
        else:
            assert rule.encode(body, header=header) == frame
    stream = b"".join(frames)
    chunks = cut_at(stream, data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    assert frames_from_chunks(rule, chunks) == (expected, b"")
    assert drained_from_chunks(rule, chunks) == (expected, b"")


def test_varint_is_linear_for_a_16_mib_frame_in_1_kib_reads() -> None:
    frame = varint(16 * MiB) + bytes(16 * MiB)
    examined, payloads = drive_counting(varint_prefixed(), frame)
    assert [len(p) for p in payloads] == [16 * MiB]
    assert examined <= 10 * (len(frame) // KiB + 1)  # at most the varint, once per read
    counting, payloads = count_work(varint_prefixed(), frame)
    assert [len(p) for p in payloads] == [16 * MiB]
    assert counting.examined <= len(frame)  # each call resumes where the last one stopped
    assert counting.calls <= len(frame) // KiB + 2


# --------------------------------------------------------------------------------------------
# netstring


def test_netstrings() -> None:
    strings = [b"hello", b"", b"1:,", b"x" * 123]
    wire = b"".join(reference_netstring(s) for s in strings)
    check_rule_case(netstring(), wire, strings, trailing=[b"1", b"12:", b"3:ab", b"3:abc"])


@pytest.mark.parametrize(
    ("wire", "offset", "message"),
    [
        (b"05:hello,", 0, r"leading zero: b'05'"),
        (b"00:,", 0, "leading zero"),
        (b"-5:hello,", 0, r"ASCII digits then b':', got b'-' at offset 0"),
        (b"+5:hello,", 0, r"got b'\+' at offset 0"),
        (b" 5:hello,", 0, r"got b' ' at offset 0"),
        (b"5 :hello,", 1, r"got b' ' at offset 1"),
        (b"0x5:hello,", 1, r"got b'x' at offset 1"),
        (b":,", 0, "without a length"),
        (b"5:hello;", 7, r"expected b',' right after the 5 bytes of netstring b'5:', got b';'"),
        (b"1" * 21, 20, "more than 20 digits"),
    ],
    ids=repr,
)
def test_netstring_framing_errors(wire: bytes, offset: int, message: str) -> None:
    check_error(netstring(), wire, FramingError, match=message, offset=offset)


def test_netstring_max_length() -> None:
    rule = netstring(max_length=99)
    check_rule_case(rule, b"2:ab,", [b"ab"])
    check_error(rule, b"100:", FramingError, match="more than 2 digits: b'100' .max_length=99")
    # Declared over the limit with as many digits: refused as soon as the ":" is in.
    check_error(netstring(max_length=50), b"51:", FramingError, match="51 exceeds max_length=50")
    with pytest.raises(ValueError, match="max_length must be at least 0"):
        netstring(max_length=-1)


def test_netstring_size_is_reported_at_the_colon() -> None:
    assert netstring()(bytearray(b"12:ab"), 0) == NeedMore(5, frame_size=16)
    mgr = BufferManager(max_size=10)
    mgr.feed(b"12:")
    with pytest.raises(FrameTooLarge):
        mgr.next_frame(netstring())


def test_netstring_cut_at_eof_keeps_the_bytes() -> None:
    mgr = BufferManager()
    mgr.feed(b"5:hel")
    mgr.feed_eof()
    with pytest.raises(StreamClosed) as caught:
        mgr.next_frame(netstring())
    assert caught.value.partial == b"5:hel"


@PROPERTY
@given(strings=st.lists(st.binary(max_size=120), max_size=8), data=st.data())
def test_netstring_against_the_reference_encoder(strings: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(reference_netstring(s) for s in strings)
    assert [netstring().encode(s) for s in strings] == [reference_netstring(s) for s in strings]
    chunks = cut_at(stream, data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    assert frames_from_chunks(netstring(), chunks) == (strings, b"")
    assert drained_from_chunks(netstring(), chunks) == (strings, b"")


def test_netstring_is_linear_for_a_16_mib_frame_in_1_kib_reads() -> None:
    frame = reference_netstring(bytes(16 * MiB))
    examined, payloads = drive_counting(netstring(), frame)
    assert [len(p) for p in payloads] == [16 * MiB]
    assert examined <= 2 * 21 * (len(frame) // KiB + 1)  # at most the header, once per read
    counting, payloads = count_work(netstring(), frame)
    assert [len(p) for p in payloads] == [16 * MiB]
    assert counting.examined <= len(frame)
    assert counting.calls <= len(frame) // KiB + 2


def test_netstring_header_byte_by_byte_is_linear() -> None:
    counted = []
    rule = netstring()

    def counting(buffer: bytearray, scan: int) -> Any:
        counted.append(len(buffer) - scan)
        return rule(buffer, scan)

    mgr = BufferManager()
    for chunk in chunks_of(b"12345678:" + bytes(20), 1):
        mgr.feed(chunk)
        assert mgr.next_frame(counting) is None
    assert sum(counted[:9]) == 9  # each header byte examined once
