"""fixed_size and length_prefixed, with the layouts of real protocols."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import (
    PROPERTY,
    check_error,
    check_frames,
    count_work,
    drive_counting,
    run_rule,
    split_at,
)
from programs import server_program, starts
from streamframer import (
    BufferManager,
    FrameDiscarded,
    FrameSpan,
    FrameTooLarge,
    FramingError,
    NeedMore,
    fixed_size,
    length_prefixed,
    read_frame,
)

# ------------------------------------------------------------------------------------------------
# fixed_size


def test_fixed_size() -> None:
    check_frames(fixed_size(4), b"abcd\r\n\0\0efgh", [b"abcd", b"\r\n\0\0", b"efgh"], partial=b"ij")
    check_frames(fixed_size(1), b"xyz", [b"x", b"y", b"z"])


def test_fixed_size_reports_the_frame_size() -> None:
    assert fixed_size(8)(bytearray(b"abc"), 0) == NeedMore(3, frame_size=8)
    assert fixed_size(3)(bytearray(b"abcd"), 0) == FrameSpan(0, 3, 3)
    mgr = BufferManager(max_size=10)
    mgr.feed(b"ab")
    with pytest.raises(FrameTooLarge) as caught:
        mgr.next_frame(fixed_size(11))
    assert (caught.value.limit, caught.value.size) == (10, 11)


@pytest.mark.parametrize(
    ("n", "error", "message"),
    [
        (0, ValueError, "n must be at least 1, got 0"),
        (-4, ValueError, "n must be at least 1"),
        (2.0, TypeError, "n must be an int, not float"),
        (True, TypeError, "n must be an int, not bool"),
        ("4", TypeError, "n must be an int, not str"),
    ],
)
def test_fixed_size_refuses(n: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        fixed_size(n)  # type: ignore[arg-type]


def test_fixed_size_is_linear() -> None:
    data = bytes(range(256)) * 1024
    counting, payloads = count_work(fixed_size(len(data)), data)
    assert payloads == [data]
    assert counting.examined <= len(data)
    examined, payloads = drive_counting(fixed_size(len(data)), data)
    assert payloads == [data]
    assert examined == 0  # never looks at a byte


# ------------------------------------------------------------------------------------------------
# length_prefixed: the layouts in the docstring, each with its own encoder


def test_plain_u32_prefix() -> None:
    payloads = [b"", b"hello", b"\0\0\0\x05", bytes(300)]
    stream = b"".join(struct.pack(">I", len(p)) + p for p in payloads)
    check_frames(length_prefixed(4), stream, payloads, partial=b"\0\0\0\x09half")
    assert repr(length_prefixed(4)) == "length_prefixed(4)"


def mbap(transaction: int, unit: int, pdu: bytes) -> bytes:
    """Modbus TCP: transaction id, protocol id 0, length (unit id + PDU), unit id, PDU."""
    return struct.pack(">HHHB", transaction, 0, len(pdu) + 1, unit) + pdu


def test_modbus_mbap() -> None:
    pdus = [b"\x03\x00\x01\x00\x03", b"\x03\x06\x00\x01\x00\x02\xff\xff", b"\x83\x02"]
    stream = b"".join(mbap(n, 17, pdu) for n, pdu in enumerate(pdus))
    rule = length_prefixed(2, offset=4, max_length=254)
    check_frames(rule, stream, [b"\x11" + pdu for pdu in pdus], partial=mbap(9, 1, b"\x03")[:7])
    check_frames(length_prefixed(2, offset=4, payload_offset=7), stream, pdus)
    assert repr(rule) == "length_prefixed(2, offset=4, max_length=254)"


def hislip(message_type: int, control: int, parameter: int, payload: bytes) -> bytes:
    """HiSLIP: "HS", message type, control code, u32 parameter, u64 payload length, payload."""
    return struct.pack(">2sBBIQ", b"HS", message_type, control, parameter, len(payload)) + payload


def test_hislip() -> None:
    messages = [
        hislip(0, 0, 0x01000000, b"vendor"),  # Initialize
        hislip(7, 0, 1, b"*IDN?\n"),  # DataEnd
        hislip(6, 0, 2, b"#15\n\r\x00\xff\n"),  # Data, binary
        hislip(7, 0, 3, b""),
    ]
    expected = [b"vendor", b"*IDN?\n", b"#15\n\r\x00\xff\n", b""]
    check_frames(length_prefixed(8, offset=8), b"".join(messages), expected, partial=b"HS\x07")


def memcached_packet(
    magic: int, opcode: int, key: bytes, extras: bytes, value: bytes, status: int, opaque: int
) -> bytes:
    """memcached binary protocol: a 24-byte header, then extras, key and value."""
    body = extras + key + value
    header = struct.pack(
        ">BBHBBHIIQ", magic, opcode, len(key), len(extras), 0, status, len(body), opaque, 0
    )
    return header + body


MEMCACHED = length_prefixed(4, offset=8, adjust=12, payload_offset=24)


def test_memcached_binary() -> None:
    packets = [
        memcached_packet(0x81, 0x00, b"", b"\0\0\0\x07", b"value\r\n", 0, 1),  # GET hit
        memcached_packet(0x81, 0x00, b"", b"", b"Not found", 1, 2),  # GET miss
        memcached_packet(0x81, 0x0A, b"", b"", b"", 0, 3),  # NOOP
    ]
    expected = [b"\0\0\0\x07value\r\n", b"Not found", b""]
    check_frames(MEMCACHED, b"".join(packets), expected, partial=packets[0][:20])
    whole = length_prefixed(4, offset=8, adjust=12, payload_offset=0)
    check_frames(whole, b"".join(packets), packets)


def uwsgi_packet(variables: dict[bytes, bytes]) -> bytes:
    """uwsgi: modifier1, u16 LE size, modifier2, then u16 LE length-prefixed keys and values."""
    body = b"".join(
        struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v for k, v in variables.items()
    )
    return struct.pack("<BHB", 0, len(body), 0) + body


def test_uwsgi() -> None:
    requests = [
        {b"REQUEST_METHOD": b"GET", b"PATH_INFO": b"/"},
        {b"QUERY_STRING": b""},
        {b"X": b"y" * 300},  # a size over 255: the byte order matters
    ]
    packets = [uwsgi_packet(r) for r in requests]
    rule = length_prefixed(2, offset=1, byteorder="little", adjust=1, payload_offset=4)
    check_frames(rule, b"".join(packets), [p[4:] for p in packets], partial=packets[2][:100])
    assert repr(rule) == (
        "length_prefixed(2, offset=1, byteorder='little', adjust=1, payload_offset=4)"
    )


# ------------------------------------------------------------------------------------------------
# Frames made by pymodbus's own encoder


def test_modbus_frames_from_pymodbus() -> None:
    # Written against the API shared by pymodbus 3.8 (the last for Python 3.9) and later.
    from pymodbus.framer import FramerSocket
    from pymodbus.pdu import DecodePDU, ExceptionResponse
    from pymodbus.pdu.register_message import (
        ReadHoldingRegistersRequest,
        ReadHoldingRegistersResponse,
        WriteMultipleRegistersRequest,
    )

    client = FramerSocket(DecodePDU(is_server=False))
    server = FramerSocket(DecodePDU(is_server=True))
    requests = [
        ReadHoldingRegistersRequest(address=1, count=3, dev_id=5, transaction_id=7),
        WriteMultipleRegistersRequest(
            address=100, count=3, registers=[0x0A0D, 0, 0xFFFF], dev_id=1, transaction_id=8
        ),
    ]
    responses = [
        ReadHoldingRegistersResponse(registers=[1, 0x0D0A, 65535], dev_id=5, transaction_id=7),
        ExceptionResponse(0x10, 2, 1, 8),  # function, exception code, device, transaction
    ]
    request_bytes = [client.buildFrame(r) for r in requests]
    response_bytes = [server.buildFrame(r) for r in responses]

    # Requests, as a server reads them: the PDUs decode back to what was sent.
    rule = length_prefixed(2, offset=4, payload_offset=7, max_length=254)
    pdus, rest = run_rule(rule, split_at(b"".join(request_bytes), [3, 5]))
    assert rest == b""
    decoded = [server.decoder.decode(pdu) for pdu in pdus]
    assert [(d.function_code, d.address, d.count) for d in decoded if d is not None] == [
        (3, 1, 3),
        (16, 100, 3),
    ]
    check_frames(rule, b"".join(request_bytes), [f[7:] for f in request_bytes])

    # Responses, as a client reads them; pymodbus's own decoder agrees on the frame sizes.
    stream = b"".join(response_bytes)
    whole = length_prefixed(2, offset=4, payload_offset=0)
    check_frames(whole, stream, response_bytes, partial=response_bytes[0][:9])
    used, device, transaction, pdu_bytes = client.decode(stream)
    assert (used, device, transaction) == (len(response_bytes[0]), 5, 7)
    response = client.decoder.decode(pdu_bytes)
    assert response is not None
    assert response.registers == [1, 0x0D0A, 65535]


# ------------------------------------------------------------------------------------------------
# Limits and corrupt headers


def test_declared_size_over_max_size_is_refused_before_the_body() -> None:
    mgr = BufferManager()  # 16 MiB
    mgr.feed(hislip(7, 0, 1, b"")[:8] + struct.pack(">Q", 1 << 40))
    with pytest.raises(FrameTooLarge) as caught:
        mgr.next_frame(length_prefixed(8, offset=8))
    assert caught.value.size == 16 + (1 << 40)


def test_declared_size_over_max_size_is_discarded_exactly() -> None:
    mgr = BufferManager(max_size=64, on_overflow="discard")
    rule = length_prefixed(4)
    big, small = bytes(range(100)), b"after"
    stream = struct.pack(">I", len(big)) + big + struct.pack(">I", len(small)) + small
    events: list[object] = []
    for chunk in split_at(stream, [7]):
        mgr.feed(chunk)
        while True:
            try:
                frame = mgr.next_frame(rule)
            except FrameDiscarded as exc:
                events.append(exc.size)
                continue
            if frame is None:
                break
            events.append(bytes(frame))
            frame.consume()
    assert events == [104, b"after"]


def test_max_length_is_the_protocols_limit() -> None:
    rule = length_prefixed(2, offset=4, max_length=254)
    good = mbap(1, 1, b"\x03" * 253)
    bad = struct.pack(">HHHB", 2, 0, 255, 1)
    check_error(
        rule,
        good + bad,
        FramingError,
        match=r"declared length 255 exceeds max_length=254: "
        r"length field b'\\x00\\xff' at offset 4",
        offset=4,
        before=[good[6:]],
    )


def test_length_shorter_than_the_header_is_a_framing_error() -> None:
    # The length counts the whole frame, the 2-byte field included: 0 and 1 are impossible.
    rule = length_prefixed(2, adjust=-2)
    check_frames(rule, b"\x00\x05abc\x00\x02", [b"abc", b""])
    check_error(
        rule,
        b"\x00\x02\x00\x01",
        FramingError,
        match=r"declared length 1 makes a frame of 1 bytes, fewer than the 2 its header needs: "
        r"length field b'\\x00\\x01' at offset 0",
        offset=0,
        before=[b""],
    )
    # The PDU of an MBAP frame cannot start past the frame's end.
    check_error(
        length_prefixed(2, offset=4, payload_offset=7),
        struct.pack(">HHH", 1, 0, 0),
        FramingError,
        match="fewer than the 7 its header needs",
        offset=4,
    )


# ------------------------------------------------------------------------------------------------
# Build-time validation


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((0,), {}, ValueError, "length_size must be 1-8 bytes, got 0"),
        ((9,), {}, ValueError, "length_size must be 1-8 bytes, got 9"),
        ((2.0,), {}, TypeError, "length_size must be an int, not float"),
        ((True,), {}, TypeError, "length_size must be an int, not bool"),
        ((2,), {"offset": -1}, ValueError, "offset must be at least 0, got -1"),
        ((2,), {"offset": 1.5}, TypeError, "offset must be an int"),
        ((2,), {"byteorder": "BIG"}, ValueError, "byteorder must be 'big' or 'little', got 'BIG'"),
        ((2,), {"byteorder": "native"}, ValueError, "byteorder must be 'big' or 'little'"),
        ((2,), {"byteorder": b"big"}, TypeError, "byteorder must be 'big' or 'little', not bytes"),
        ((2,), {"byteorder": None}, TypeError, "not NoneType"),
        ((2,), {"adjust": 0.5}, TypeError, "adjust must be an int, not float"),
        ((2,), {"payload_offset": -1}, ValueError, "payload_offset must be at least 0"),
        ((2,), {"payload_offset": "6"}, TypeError, "payload_offset must be an int, not str"),
        ((2,), {"max_length": -1}, ValueError, "max_length must be at least 0"),
        ((2,), {"max_length": 1e3}, TypeError, "max_length must be an int, not float"),
        # A max larger than the field can hold.
        ((1,), {"max_length": 256}, ValueError, r"more than a 1-byte length field can hold \(255"),
        ((2,), {"max_length": 65536}, ValueError, r"2-byte length field can hold \(65535\)"),
        # A header longer than the max: the length counts the 4-byte header itself.
        ((4,), {"adjust": -4, "max_length": 3}, ValueError, "fewer than the 4-byte header"),
        # Totals always negative or too small.
        ((1,), {"adjust": -300}, ValueError, r"1 \+ 255 \+ -300 = -44 bytes"),
        ((2,), {"offset": 4, "adjust": -65541}, ValueError, "fewer than the 6-byte header"),
        # A payload that would start past the largest frame.
        ((1,), {"payload_offset": 300}, ValueError, "= 256 bytes, fewer than the 300-byte"),
        ((2,), {"max_length": 0, "payload_offset": 3}, ValueError, "payload_offset = 3"),
    ],
)
def test_length_prefixed_refuses(
    args: tuple[object, ...], kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        length_prefixed(*args, **kwargs)  # type: ignore[arg-type]


def test_length_prefixed_accepts_the_extremes() -> None:
    assert length_prefixed(8).max_length is None
    assert length_prefixed(2, max_length=65535).max_length == 65535
    # Lengths 0-3 are impossible here, 4 and up are fine: accepted, checked per frame.
    rule = length_prefixed(4, adjust=-4, max_length=4)
    assert rule(bytearray(b"\0\0\0\x04"), 0) == FrameSpan(4, 4, 4)


def test_length_prefixed_is_linear() -> None:
    body = bytes(range(256)) * 1024
    frame = struct.pack(">I", len(body)) + body
    counting, payloads = count_work(length_prefixed(4), frame)
    assert payloads == [body]
    assert counting.examined <= len(body) + 4
    # The body is never scanned: each read costs a look at the 4-byte header.
    examined, payloads = drive_counting(length_prefixed(4), frame)
    assert payloads == [body]
    assert examined <= 4 * (len(frame) // 1024 + 1)


@st.composite
def layouts(draw: st.DrawFn) -> tuple[dict[str, object], int]:
    """Random length_prefixed arguments, and the smallest declared length they allow."""
    length_size = draw(st.integers(1, 8))
    offset = draw(st.integers(0, 5))
    adjust = draw(st.integers(-3, 6))
    field_end = offset + length_size
    payload_offset = draw(st.integers(0, field_end + max(adjust, 0)))
    kwargs = {
        "offset": offset,
        "byteorder": draw(st.sampled_from(["big", "little"])),
        "adjust": adjust,
        "payload_offset": payload_offset,
    }
    smallest = max(0, max(field_end, payload_offset) - field_end - adjust)
    return {"length_size": length_size, **kwargs}, smallest


@PROPERTY
@given(
    layout=layouts(),
    bodies=st.lists(st.binary(max_size=40), max_size=6),
    sizes=st.lists(st.integers(1, 16), min_size=1, max_size=5),
    data=st.data(),
)
def test_length_prefixed_round_trip(
    layout: tuple[dict[str, object], int],
    bodies: list[bytes],
    sizes: list[int],
    data: st.DataObject,
) -> None:
    kwargs, smallest = layout
    size = int(kwargs["length_size"])  # type: ignore[call-overload]
    offset = int(kwargs["offset"])  # type: ignore[call-overload]
    adjust = int(kwargs["adjust"])  # type: ignore[call-overload]
    order = "big" if kwargs["byteorder"] == "big" else "little"
    frames = []
    for body in bodies:
        # The reference encoder: filler, the length field, then the rest of the frame.
        length = max(len(body) - adjust, smallest)
        rest = (body + bytes(max(0, length + adjust - len(body))))[: length + adjust]
        prefix = data.draw(st.binary(min_size=offset, max_size=offset))
        frames.append(prefix + length.to_bytes(size, order) + rest)
    rule = length_prefixed(**kwargs)  # type: ignore[arg-type]
    stream = b"".join(frames)
    payload_offset = int(kwargs["payload_offset"])  # type: ignore[call-overload]
    expected = [frame[payload_offset:] for frame in frames]
    assert run_rule(rule, split_at(stream, sizes)) == (expected, b"")


# ------------------------------------------------------------------------------------------------
# A real memcached server, speaking its binary protocol on loopback


@pytest.fixture
@starts("memcached")
def memcached_port() -> Iterator[int]:
    executable = server_program("memcached")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [executable, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "8"]
    if os.geteuid() == 0:
        command += ["-u", "root"]  # memcached refuses to run as root without it
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:  # wait until it listens (setup only; no assertion depends on timing)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.02)
        yield port
    finally:
        server.kill()  # nothing to save: a graceful stop only takes longer
        server.wait(timeout=10)


def test_memcached_server(memcached_port: int) -> None:
    value = b"#15\n\r\x00\xff\n" + bytes(range(256)) * 40  # newlines, NULs, 10 KiB
    requests = [
        memcached_packet(0x80, 0x01, b"wave", struct.pack(">II", 7, 0), value, 0, 1),  # SET
        memcached_packet(0x80, 0x00, b"wave", b"", b"", 0, 2),  # GET
        memcached_packet(0x80, 0x00, b"missing", b"", b"", 0, 3),  # GET, a miss
        memcached_packet(0x80, 0x0A, b"", b"", b"", 0, 4),  # NOOP
    ]
    whole = length_prefixed(4, offset=8, adjust=12, payload_offset=0)
    mgr = BufferManager()
    received = b""
    packets = []
    with socket.create_connection(("127.0.0.1", memcached_port), timeout=10) as sock:
        sock.sendall(b"".join(requests))
        while len(packets) < len(requests):
            frame = read_frame(sock, mgr, whole)
            packets.append(bytes(frame))
            frame.consume()
        received = b"".join(packets)
    replies = [struct.unpack(">BBHBBHIIQ", p[:24]) for p in packets]
    # (magic, opcode, status, opaque) of each reply, in order.
    assert [(r[0], r[1], r[5], r[7]) for r in replies] == [
        (0x81, 0x01, 0, 1),
        (0x81, 0x00, 0, 2),
        (0x81, 0x00, 1, 3),
        (0x81, 0x0A, 0, 4),
    ]
    assert packets[1][24:] == struct.pack(">I", 7) + value  # flags, then the value
    # The same bytes, framed with the payload after the 24-byte header, however they arrive.
    check_frames(MEMCACHED, received, [p[24:] for p in packets])
