"""The protocol table of docs/rules.md, row by row: each protocol's messages, built by hand from
its specification (``struct``, the spec's own examples), framed by the rule the table names in
every chunking, and encoded back by that rule. The table and these tests cannot drift apart:
the last test reads the table.

Real peers are in the interop tests (MQTT: mosquitto) and beside their rules (memcached,
Modbus: pymodbus, R&S and HP blocks: pyvisa's encoders in test_rules_blocks.py).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any, Callable

import pyvisa.util
from hypothesis import given
from hypothesis import strategies as st

import streamframer
from helpers import PROPERTY, check_rule_case, cut_at, frames_from_chunks, rs_block
from streamframer import (
    BufferManager,
    NeedMore,
    fixed_size,
    ieee_block,
    length_prefixed,
    netstring,
    until_eot,
    varint_prefixed,
)

RULES_MD = Path(__file__).resolve().parents[1] / "docs" / "rules.md"

#: The rule of each row of the table, as these tests use it.
PROTOCOLS: dict[str, Any] = {
    "PostgreSQL": length_prefixed(4, offset=1, adjust=-4),
    "MySQL / MariaDB": length_prefixed(3, byteorder="little", adjust=1, payload_offset=4),
    "DNS over TCP": length_prefixed(2),
    "MQTT": varint_prefixed(offset=1, max_bytes=4),
    "protobuf, delimited": varint_prefixed(max_bytes=5),
    "SCGI": netstring(),
    "uwsgi": length_prefixed(2, offset=1, byteorder="little", adjust=1, payload_offset=4),
    "SLIP": until_eot(0xC0, skip_empty=True),
    "Modbus TCP": length_prefixed(2, offset=4, max_length=254),
    "HiSLIP": length_prefixed(8, offset=8, magic=b"HS"),
    "memcached binary": length_prefixed(4, offset=8, adjust=12, payload_offset=24),
    "HP blocks": length_prefixed(2, offset=2, byteorder="little", magic=b"#A"),
    "R&S blocks": ieee_block(),
}


def check_protocol(name: str, wire: bytes, payloads: list[bytes], **options: Any) -> None:
    """``wire`` frames into ``payloads`` in every chunking, and each payload encodes back to
    its own frame (``options``: the encoder's keyword arguments, one dict per frame)."""
    rule = PROTOCOLS[name]
    check_rule_case(rule, wire, payloads)
    encoded = b"".join(
        rule.encode(payload, **{key: values[i] for key, values in options.items()})
        for i, payload in enumerate(payloads)
    )
    assert encoded == wire


def test_postgresql() -> None:
    # The length counts itself but not the type byte: AuthenticationOk, ParameterStatus,
    # ReadyForQuery (idle), then a Query from the client side.
    bodies = [(b"R", b"\0\0\0\0"), (b"S", b"client_encoding\0UTF8\0"), (b"Z", b"I")]
    bodies.append((b"Q", b"SELECT 1;\0"))
    wire = b"".join(kind + struct.pack("!I", 4 + len(body)) + body for kind, body in bodies)
    assert wire.startswith(b"R\0\0\0\x08\0\0\0\0")
    check_protocol("PostgreSQL", wire, [b for _, b in bodies], header=[k for k, _ in bodies])


def test_mysql() -> None:
    # A 3-byte little-endian length, then the sequence id; the payload after both.
    packets = [(0, b"\x0a8.0.36\0" + bytes(40)), (1, b"\x03SELECT 1"), (2, b"\x00\x00\x00\x02")]
    wire = b"".join(struct.pack("<I", len(p))[:3] + bytes([seq]) + p for seq, p in packets)
    check_protocol(
        "MySQL / MariaDB",
        wire,
        [p for _, p in packets],
        after_length=[bytes([seq]) for seq, _ in packets],
    )


def dns_query(query_id: int, name: str) -> bytes:
    """An RFC 1035 query for the A record of ``name``: header, then one question."""
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return header + labels + struct.pack("!HH", 1, 1)


def test_dns_over_tcp() -> None:
    # RFC 1035 4.2.2 / RFC 7766: each message behind a two-byte length.
    messages = [dns_query(0x1234, "example.com"), dns_query(7, "a.b.c.d.example.org")]
    wire = b"".join(struct.pack("!H", len(m)) + m for m in messages)
    check_protocol("DNS over TCP", wire, messages)


def test_mqtt_remaining_length_examples() -> None:
    # MQTT 3.1.1, 2.2.3: the boundaries of the remaining length's 1 to 4 bytes (0 is PINGREQ's,
    # below).
    rule = PROTOCOLS["MQTT"]
    for value, encoded in [
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (2_097_152, b"\x80\x80\x80\x01"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ]:
        header = b"\x30" + encoded
        assert rule(bytearray(header), 0) == NeedMore(len(header), frame_size=len(header) + value)
        if value < 20_000:
            assert rule.encode(bytes(value), header=b"\x30") == header + bytes(value)
    # PINGREQ, then a QoS 0 PUBLISH of b"hi" to topic "a/b".
    publish = b"\x00\x03a/bhi"
    check_protocol("MQTT", b"\xc0\x00\x30\x07" + publish, [b"", publish], header=[b"\xc0", b"\x30"])


def test_protobuf_delimited() -> None:
    # The protobuf encoding guide's message {a: 150}, and an empty one; 300 is b"\xac\x02".
    messages = [b"\x08\x96\x01", b"", b"\x12" + b"\xac\x02" + bytes(300)]
    wire = b"\x03" + messages[0] + b"\x00" + b"\xaf\x02" + messages[2]
    check_protocol("protobuf, delimited", wire, messages)


def test_scgi_request() -> None:
    # The SCGI specification's example request; the body follows the netstring of headers.
    headers = (
        b"CONTENT_LENGTH\x0027\x00SCGI\x001\x00"
        b"REQUEST_METHOD\x00POST\x00REQUEST_URI\x00/deepthought\x00"
    )
    body = b"What is the answer to life?"
    request = PROTOCOLS["SCGI"].encode(headers) + body
    assert request.startswith(b"70:CONTENT_LENGTH\x0027\x00")
    mgr = BufferManager()
    mgr.feed(request)
    with mgr.next_frame(PROTOCOLS["SCGI"]) as frame:
        fields = bytes(frame).split(b"\0")
    variables = dict(zip(fields[::2], fields[1::2]))
    with mgr.next_frame(fixed_size(int(variables[b"CONTENT_LENGTH"]))) as frame:
        assert frame == body
    check_protocol("SCGI", request[: -len(body)], [headers])


def test_uwsgi_request() -> None:
    # A uwsgi packet: modifier1, a little-endian size, modifier2, then the vars (each key and
    # value behind its own 2-byte LE size). The request body follows the packet, outside any
    # packet: CONTENT_LENGTH says how long it is.
    pairs = [(b"REQUEST_METHOD", b"POST"), (b"CONTENT_LENGTH", b"5")]
    variables = b"".join(
        struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v for k, v in pairs
    )
    packet = b"\x00" + struct.pack("<H", len(variables)) + b"\x00" + variables
    mgr = BufferManager()
    mgr.feed(packet + b"hello")
    with mgr.next_frame(PROTOCOLS["uwsgi"]) as frame:
        assert frame == variables
    with mgr.next_frame(fixed_size(5)) as frame:
        assert frame == b"hello"
    check_protocol(
        "uwsgi", packet * 2, [variables] * 2, header=[b"\x00"] * 2, after_length=[b"\x00"] * 2
    )


def slip_encode(packet: bytes) -> bytes:
    """RFC 1055's send_packet: END, the packet with END and ESC escaped, END."""
    escaped = packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
    return b"\xc0" + escaped + b"\xc0"


def slip_decode(payload: bytes) -> bytes:
    return payload.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")


def test_slip() -> None:
    packets = [b"\x45\x00\x00\x1c", b"\xc0\xdb\xc0", b"x"]
    wire = b"".join(slip_encode(p) for p in packets)
    rule = PROTOCOLS["SLIP"]
    escaped = [slip_encode(p)[1:-1] for p in packets]
    check_rule_case(rule, wire, escaped)
    assert [slip_decode(e) for e in escaped] == packets
    mgr = BufferManager()
    mgr.feed(wire)
    assert mgr.drain(rule) == escaped
    assert mgr.skipped == len(packets)  # the END opening each packet: an empty frame
    assert rule.encode(escaped[0]) == slip_encode(packets[0])[1:]


def test_modbus_tcp() -> None:
    # Read holding registers 107-109 of unit 0x11, transaction 1 (the MBAP example), and the
    # reply with three registers.
    request = b"\x11\x03\x00\x6b\x00\x03"
    reply = b"\x11\x03\x06\x02\x2b\x00\x00\x00\x64"
    mbap = [struct.pack("!HHH", 1, 0, len(pdu)) for pdu in (request, reply)]
    wire = mbap[0] + request + mbap[1] + reply
    check_protocol("Modbus TCP", wire, [request, reply], header=[m[:4] for m in mbap])


def test_hislip() -> None:
    # Initialize (type 0) with no payload, then Data (type 6) carrying *IDN?.
    headers = [b"HS\x00\x00\x01\x01\x00\x00", b"HS\x06\x00\x00\x00\x00\x01"]
    payloads = [b"", b"*IDN?\n"]
    wire = b"".join(h + struct.pack("!Q", len(p)) + p for h, p in zip(headers, payloads))
    check_protocol("HiSLIP", wire, payloads, header=headers)


def test_memcached_binary() -> None:
    # A GET response: 24-byte header (magic 0x81, body length at 8), then extras and value.
    extras, value = b"\xde\xad\xbe\xef", b"hello"
    header = struct.pack("!BBHBBHIIQ", 0x81, 0x00, 0, 4, 0, 0, 9, 0x11223344, 7)
    check_protocol(
        "memcached binary",
        header + extras + value,
        [extras + value],
        header=[header[:8]],
        after_length=[header[12:]],
    )


def test_hp_and_rs_blocks() -> None:
    data = bytes(range(200))
    hp = pyvisa.util.to_hp_block(list(data), "B")
    check_protocol("HP blocks", hp, [data])
    rs = rs_block(data) + b"\n"
    check_rule_case(PROTOCOLS["R&S blocks"], rs, [data])


# --------------------------------------------------------------------------------------------
# Porting from tokio / Netty


def tokio_frames(
    stream: bytes, offset: int, size: int, adjustment: int, num_skip: int
) -> list[bytes]:
    """tokio-util's ``LengthDelimitedCodec`` decode (big-endian), transcribed: read the field,
    add ``length_adjustment``, skip ``num_skip`` bytes, the frame is the next n bytes."""
    frames = []
    while len(stream) >= offset + size:
        n = int.from_bytes(stream[offset : offset + size], "big") + adjustment
        if len(stream) < num_skip + n:
            break
        frames.append(stream[num_skip : num_skip + n])
        stream = stream[num_skip + n :]
    return frames


@PROPERTY
@given(
    offset=st.integers(0, 3),
    size=st.integers(1, 4),
    adjustment=st.integers(-2, 4),
    extra_skip=st.integers(-2, 3),
    bodies=st.lists(st.binary(max_size=30), max_size=5),
    data=st.data(),
)
def test_tokio_arguments_translate(
    offset: int, size: int, adjustment: int, extra_skip: int, bodies: list[bytes], data: Any
) -> None:
    """adjust = length_adjustment + num_skip - offset - length_size; payload_offset = num_skip."""
    num_skip = max(0, offset + size + extra_skip)
    head = offset + size
    frames = []
    for body in bodies:
        # A frame tokio reads: n = length + adjustment bytes after num_skip, at least the head.
        n = max(len(body), head - num_skip, 0)
        length = n - adjustment
        if length < 0 or length >= 1 << (8 * size):
            continue
        header = data.draw(st.binary(min_size=offset, max_size=offset))
        frame = (header + length.to_bytes(size, "big") + body)[: num_skip + n]
        frames.append(frame + bytes(num_skip + n - len(frame)))
    stream = b"".join(frames)
    rule = length_prefixed(
        size,
        offset=offset,
        adjust=adjustment + num_skip - offset - size,
        payload_offset=num_skip,
    )
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    expected = tokio_frames(stream, offset, size, adjustment, num_skip)
    assert frames_from_chunks(rule, cut_at(stream, cuts)) == (expected, b"")


# --------------------------------------------------------------------------------------------
# The table itself


def table_rows() -> list[tuple[str, str]]:
    text = RULES_MD.read_text(encoding="utf-8")
    section = text.split("## Protocols", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| ([^|`]+?) \| `([^`]+)` \|", section, re.M)


def test_every_row_of_the_protocol_table_is_tested_here() -> None:
    rows = table_rows()
    assert [name for name, _ in rows] == list(PROTOCOLS)
    namespace: dict[str, Callable[..., Any]] = vars(streamframer)
    for name, rule in rows:
        assert repr(eval(rule, dict(namespace))) == repr(PROTOCOLS[name]), name
