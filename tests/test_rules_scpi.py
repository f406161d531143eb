"""ieee_block and scpi_response: IEEE 488.2 definite-length blocks and SCPI responses."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest
import pyvisa.util
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
from streamframer import (
    BufferManager,
    FrameLifecycleError,
    FrameSpan,
    FrameTooLarge,
    FramingError,
    NeedMore,
    ieee_block,
    read_frame,
    scpi_response,
)


def block(data: bytes, terminator: bytes = b"\n") -> bytes:
    """The reference encoder: b"#", the digit count, the length, the data, the terminator."""
    length = str(len(data)).encode()
    return b"#" + str(len(length)).encode() + length + data + terminator


# ------------------------------------------------------------------------------------------------
# ieee_block


def test_pyvisas_historic_block() -> None:
    # pyvisa once wrote this for the bytes [10, 13, 0, 255, 10]: two LF in the data.
    wire = b"#15\n\r\x00\xff\n\n"
    assert wire == pyvisa.util.to_ieee_block([10, 13, 0, 255, 10], "B") + b"\n"
    check_frames(ieee_block(), wire * 3, [b"\n\r\x00\xff\n"] * 3, partial=wire[:6])
    assert ieee_block()(bytearray(wire), 0) == FrameSpan(3, 8, 9)


@pytest.mark.parametrize(
    ("datatype", "big_endian", "dtype"),
    [("f", True, ">f4"), ("f", False, "<f4"), ("d", True, ">f8"), ("h", False, "<i2")],
)
def test_blocks_from_pyvisa(datatype: str, big_endian: bool, dtype: str) -> None:
    # Values whose encodings are full of LF, CR and NUL bytes.
    values = [10.0, 13.0, 0.0, 2570.0, -1.5, 3338.0] * 50
    if datatype == "h":
        values = [int(v) for v in values]
    wire = pyvisa.util.to_ieee_block(values, datatype, big_endian) + b"\n"  # type: ignore[arg-type]
    mgr = BufferManager()
    for chunk in split_at(wire * 2, [7, 64, 1]):
        mgr.feed(chunk)
    for _ in range(2):
        frame = mgr.next_frame(ieee_block())
        assert frame is not None
        array = np.frombuffer(frame.view, dtype)  # zero-copy, straight from the buffer
        assert array.tolist() == values
        # pyvisa's own parser reads the same data from the same bytes.
        parsed = pyvisa.util.from_ieee_block(wire, datatype, big_endian)  # type: ignore[arg-type]
        assert list(parsed) == array.tolist()
        del array
        frame.consume()
    assert len(mgr) == 0


def test_blocks_from_pyvisas_generic_writer() -> None:
    # to_binary_block takes the header as given: the caller supplies "#" and the length.
    wires = [
        pyvisa.util.to_binary_block(b"ab\ncd", b"#15", "s", False),
        pyvisa.util.to_binary_block([1, 2, 10], "#16", "h", True),
    ]
    assert wires[1] == b"#16\x00\x01\x00\x02\x00\n"
    check_frames(
        ieee_block(None), b"".join(wires), [b"ab\ncd", b"\x00\x01\x00\x02\x00\n"], partial=b"#1"
    )


def test_payload_is_a_view_not_a_copy() -> None:
    mgr = BufferManager()
    mgr.feed(block(np.arange(4, dtype=">f4").tobytes()))
    frame = mgr.next_frame(ieee_block())
    assert frame is not None
    array = np.frombuffer(frame.view, ">f4")
    assert array.tolist() == [0.0, 1.0, 2.0, 3.0]
    # The array still points into the manager's buffer, so consuming must wait for it.
    with pytest.raises(FrameLifecycleError):
        frame.consume()
    del array
    frame.consume()


def test_empty_block() -> None:
    assert pyvisa.util.to_ieee_block([], "B") == b"#10"
    check_frames(ieee_block(), b"#10\n#10\n", [b"", b""])


def test_length_with_leading_zeros_and_nine_digits() -> None:
    check_frames(ieee_block(), b"#3005abcde\n#9000000002xy\n", [b"abcde", b"xy"])


def test_no_terminator() -> None:
    rule = ieee_block(terminator=None)
    check_frames(rule, b"#13abc#10#12\n\n", [b"abc", b"", b"\n\n"], partial=b"#2")
    assert repr(rule) == "ieee_block(terminator=None)"


def test_crlf_terminator() -> None:
    rule = ieee_block(terminator=b"\r\n")
    check_frames(rule, block(b"\r\n\r", b"\r\n") * 2, [b"\r\n\r"] * 2, partial=b"#14ab")


def test_wrong_terminator_is_a_framing_error() -> None:
    check_error(
        ieee_block(),
        b"#12ab\n#12abX",
        FramingError,
        match=r"expected the terminator b'\\n' right after the 2 data bytes of block b'#12', "
        r"got b'X' at offset 5",
        offset=5,
        before=[b"ab"],
    )
    check_error(ieee_block(b"\r\n"), b"#12ab\r\r", FramingError, match="got b'\\\\r\\\\r'")


@pytest.mark.parametrize(
    ("wire", "offset", "message"),
    [
        (b"X#12ab\n", 0, r"starts with b'#', got b'X' at offset 0"),
        (b"\n#12ab\n", 0, r"got b'\\n' at offset 0"),
        (b"#A\x00\x05hello\n", 1, r"digit count b'0'-b'9' or b'\(' at offset 1, got b'A'"),
        (b"# 5hello\n", 1, r"got b' '"),
        (b"#2 5hello\n", 2, r"expected 2 length digits from offset 2, got b' ' at offset 2"),
        (b"#3ab5hello\n", 2, r"got b'a' at offset 2"),
        (b"#31-5hello\n", 3, r"got b'-' at offset 3"),
        (b"#21_0123456789\n", 3, r"got b'_' at offset 3"),
    ],
)
def test_malformed_headers(wire: bytes, offset: int, message: str) -> None:
    check_error(ieee_block(), wire, FramingError, match=message, offset=offset)


def test_hp_blocks_are_not_ieee_blocks() -> None:
    wire = pyvisa.util.to_hp_block([1, 2], "B")  # b"#A" + a binary length
    check_error(ieee_block(), wire + b"\n", FramingError, match="got b'A'", offset=1)


def test_indefinite_blocks_are_refused_by_default() -> None:
    check_error(
        ieee_block(),
        b"#0abc\n",
        FramingError,
        match=r"indefinite-length block b'#0' refused: its end is marked only by the END",
        offset=1,
    )


def test_indefinite_blocks_on_request() -> None:
    rule = ieee_block(indefinite="terminator")
    check_frames(rule, b"#0abc\n#0\n#13\n\n\n\n", [b"abc", b"", b"\n\n\n"], partial=b"#0par")
    check_frames(ieee_block(b"\r\n", indefinite="terminator"), b"#0a\rb\r\n", [b"a\rb"])
    assert repr(rule) == "ieee_block(indefinite='terminator')"


def test_declared_size_over_max_size_is_refused_before_the_body() -> None:
    mgr = BufferManager(max_size=1 << 20)
    mgr.feed(b"#9100000000")
    with pytest.raises(FrameTooLarge) as caught:
        mgr.next_frame(ieee_block())
    assert caught.value.size == 11 + 100_000_000 + 1
    assert ieee_block()(bytearray(b"#9100000000\xff"), 0) == NeedMore(12, frame_size=100_000_012)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (("\n",), {}, TypeError, "terminator must be bytes, not str"),
        ((b"",), {}, ValueError, "terminator must not be empty"),
        ((10,), {}, TypeError, "terminator must be bytes, not int"),
        ((), {"indefinite": "eof"}, ValueError, "must be 'refuse' or 'terminator', got 'eof'"),
        ((), {"indefinite": None}, TypeError, "indefinite must be a str, not NoneType"),
        ((None,), {"indefinite": "terminator"}, ValueError, "needs a terminator"),
    ],
)
def test_ieee_block_refuses(
    args: tuple[object, ...], kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ieee_block(*args, **kwargs)  # type: ignore[arg-type]


def test_ieee_block_is_linear() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB, 4096 LF bytes in it
    counting, payloads = count_work(ieee_block(), block(data))
    assert payloads == [data]
    assert counting.examined <= len(data) + 16
    # The data is never scanned: each read costs a look at the header (at most 11 bytes) and
    # the place of the terminator.
    examined, payloads = drive_counting(ieee_block(), block(data))
    assert payloads == [data]
    assert examined <= 16 * (len(data) // 1024 + 1)


def test_indefinite_block_is_linear() -> None:
    data = bytes(range(11, 256)) * 1024
    counting, payloads = count_work(ieee_block(indefinite="terminator"), b"#0" + data + b"\n")
    assert payloads == [data]
    assert counting.examined <= 2 * len(data)
    examined, payloads = drive_counting(ieee_block(indefinite="terminator"), b"#0" + data + b"\n")
    assert payloads == [data]
    assert examined <= 2 * len(data)


@PROPERTY
@given(
    blocks=st.lists(st.binary(max_size=300), max_size=6),
    terminator=st.sampled_from([b"\n", b"\r\n", None]),
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=5),
)
def test_ieee_block_round_trip(
    blocks: list[bytes], terminator: bytes | None, sizes: list[int]
) -> None:
    stream = b"".join(block(data, terminator or b"") for data in blocks)
    assert run_rule(ieee_block(terminator), split_at(stream, sizes)) == (blocks, b"")


@PROPERTY
@given(
    blocks=st.lists(st.binary(max_size=100), max_size=4),
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=5),
)
def test_pyvisa_encoder_round_trip(blocks: list[bytes], sizes: list[int]) -> None:
    stream = b"".join(pyvisa.util.to_ieee_block(list(data), "B") + b"\n" for data in blocks)
    assert run_rule(ieee_block(), split_at(stream, sizes)) == (blocks, b"")


# ------------------------------------------------------------------------------------------------
# scpi_response


def test_lines_and_blocks() -> None:
    responses = [b"KEYSIGHT,DSOX1204G,0,1.0", b"", b"+1.2E-3", b"#H1F", b"#Q17", b"#B101"]
    data = [b"\n" * 8, b"\n\r\x00\xff\n"]
    wire = b"".join(r + b"\n" for r in responses) + b"".join(block(d) for d in data)
    check_frames(scpi_response(), wire, responses + data, partial=b"#18\n\n")
    check_frames(scpi_response(), wire, responses + data, partial=b"1.5")


def test_block_full_of_newlines_is_never_lines() -> None:
    data = b"\n" * 1000
    check_frames(scpi_response(), block(data) + b"OK\n", [data, b"OK"])


def test_crlf_responses() -> None:
    rule = scpi_response(terminator=b"\r\n")
    check_frames(rule, b"1\r\n" + block(b"\r\n", b"\r\n") + b"x\ry\r\n", [b"1", b"\r\n", b"x\ry"])
    assert repr(rule) == "scpi_response(terminator=b'\\r\\n')"
    # Nothing is stripped: a CR before a LF terminator stays in the payload.
    check_frames(scpi_response(), b"1\r\n", [b"1\r"])


def test_a_lone_hash_waits_for_the_next_byte() -> None:
    rule = scpi_response()
    assert rule(bytearray(b"#"), 0) == NeedMore(0)
    assert run_rule(rule, [b"#", b"H", b"1F\n", b"#", b"1", b"2ab\n"]) == ([b"#H1F", b"ab"], b"")


def test_scpi_response_errors() -> None:
    check_error(scpi_response(), b"1\n#0abc\n", FramingError, match="refused", before=[b"1"])
    check_error(scpi_response(), b"#X\n", FramingError, match="got b'X'", offset=1)
    check_frames(scpi_response(indefinite="terminator"), b"#0abc\n", [b"abc"])
    assert repr(scpi_response(indefinite="terminator")) == "scpi_response(indefinite='terminator')"


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((None,), {}, TypeError, "terminator must be bytes, not NoneType"),
        (("\n",), {}, TypeError, "terminator must be bytes, not str"),
        ((b"",), {}, ValueError, "terminator must not be empty"),
        ((), {"indefinite": "until_eof"}, ValueError, "'refuse' or 'terminator'"),
    ],
)
def test_scpi_response_refuses(
    args: tuple[object, ...], kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        scpi_response(*args, **kwargs)  # type: ignore[arg-type]


def test_scpi_response_is_linear() -> None:
    line = b"1.0," * 65536
    counting, payloads = count_work(scpi_response(), line + b"\n")
    assert payloads == [line]
    assert counting.examined <= 2 * len(line)
    examined, payloads = drive_counting(scpi_response(), line + b"\n")
    assert payloads == [line]
    assert examined <= 2 * len(line)
    data = b"\n" * (1 << 20)
    counting, payloads = count_work(scpi_response(), block(data))
    assert payloads == [data]
    assert counting.examined <= len(data) + 16


responses = st.one_of(
    st.binary(max_size=40)
    .filter(lambda b: b"\n" not in b and not b.startswith(b"#"))
    .map(lambda b: (b, b + b"\n")),
    st.binary(max_size=200).map(lambda b: (b, block(b))),
)


@PROPERTY
@given(
    replies=st.lists(responses, max_size=8),
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=5),
)
def test_scpi_response_round_trip(replies: list[tuple[bytes, bytes]], sizes: list[int]) -> None:
    stream = b"".join(wire for _, wire in replies)
    expected = [payload for payload, _ in replies]
    assert run_rule(scpi_response(), split_at(stream, sizes)) == (expected, b"")


# ------------------------------------------------------------------------------------------------
# A simulated instrument on loopback


def test_instrument_over_tcp() -> None:
    waveform = np.linspace(-1, 1, 5000, dtype=">f4")
    answers = {b"*IDN?": b"ACME,SCOPE,1,0.1\n", b"CURV?": block(waveform.tobytes())}
    with socket.create_server(("127.0.0.1", 0)) as server:

        def instrument() -> None:
            connection, _ = server.accept()
            with connection:
                stream = connection.makefile("rb")
                for command in stream:
                    answer = answers[command.strip()]
                    for piece in split_at(answer, [1, 700, 3]):  # sent in awkward pieces
                        connection.sendall(piece)

        thread = threading.Thread(target=instrument)
        thread.start()
        try:
            with socket.create_connection(server.getsockname(), timeout=10) as sock:
                mgr = BufferManager()
                rule = scpi_response()
                sock.sendall(b"*IDN?\nCURV?\n*IDN?\n")
                with read_frame(sock, mgr, rule, timeout=10) as frame:
                    assert frame == b"ACME,SCOPE,1,0.1"
                with read_frame(sock, mgr, rule, timeout=10) as frame:
                    received = np.frombuffer(frame.view, ">f4")
                    assert np.array_equal(received, waveform)
                    del received
                with read_frame(sock, mgr, rule, timeout=10) as frame:
                    assert frame == b"ACME,SCOPE,1,0.1"
                sock.shutdown(socket.SHUT_WR)
        finally:
            thread.join(timeout=10)
