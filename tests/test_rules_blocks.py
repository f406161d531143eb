"""The block formats beside IEEE 488.2's: Rohde & Schwarz ``#(n)`` blocks (ieee_block,
scpi_response) and HP ``#A`` blocks, with ``length_prefixed(..., magic=...)``."""

from __future__ import annotations

from typing import Any

import pytest
import pyvisa.util
from hypothesis import given
from hypothesis import strategies as st

from helpers import (
    PROPERTY,
    check_error,
    check_rule_case,
    cut_at,
    drive_counting,
    frames_from_chunks,
)
from helpers import rs_block as to_rs_block
from streamframer import (
    BufferManager,
    FrameTooLarge,
    FramingError,
    NeedMore,
    StreamClosed,
    ieee_block,
    length_prefixed,
    scpi_response,
)
from streamframer._rules import _scpi

MiB = 1024 * 1024
HP_BLOCK = length_prefixed(2, offset=2, byteorder="little", magic=b"#A")
HISLIP = length_prefixed(8, offset=8, magic=b"HS")


def rs_block(data: bytes, terminator: bytes = b"\n") -> bytes:
    """An R&S block, and the terminator an instrument ends its response with."""
    return to_rs_block(data) + terminator


# --------------------------------------------------------------------------------------------
# R&S #(n) blocks


def test_rs_blocks() -> None:
    blocks = [b"hello", b"", b"\n" * 12, b"#(3)x\n"]
    wire = b"".join(rs_block(data) for data in blocks)
    assert wire.startswith(b"#(5)hello\n#(0)\n")
    for rule in (ieee_block(), scpi_response()):
        check_rule_case(rule, wire, blocks, trailing=[b"#", b"#(", b"#(12", b"#(3)ab", b"#(3)abc"])


def test_rs_blocks_among_lines_and_ieee_blocks() -> None:
    wire = b"+1.5\n#(3)\n\n\n\n#13abc\n#H1F\n"
    check_rule_case(scpi_response(), wire, [b"+1.5", b"\n\n\n", b"abc", b"#H1F"])
    check_rule_case(ieee_block(None), b"#(2)ab#12cd", [b"ab", b"cd"])
    check_rule_case(scpi_response(b"\r\n"), b"#(2)\r\n\r\n", [b"\r\n"])


def test_rs_block_size_is_reported_from_the_header() -> None:
    assert ieee_block()(bytearray(b"#(1000000000)ab"), 0) == NeedMore(15, frame_size=10**9 + 14)
    mgr = BufferManager(max_size=MiB)
    mgr.feed(b"#(2000000000)")
    with pytest.raises(FrameTooLarge) as caught:
        mgr.next_frame(scpi_response())
    assert caught.value.size == 2 * 10**9 + 14


@pytest.mark.parametrize(
    ("wire", "offset", "message"),
    [
        (b"#()\n", 2, r"no length digits in b'#\(\)'"),
        (b"#(1a)b\n", 3, r"R&S block header: expected length digits then b'\)' .* got b'a' at "),
        (b"#( 5)hello\n", 2, r"got b' ' at offset 2"),
        (b"#(-5)hello\n", 2, r"got b'-' at offset 2"),
        (b"#(" + b"1" * 21, 22, r"more than 20 length digits"),
        (b"#(2)ab;", 6, r"expected the terminator b'\\n' right after the 2 data bytes"),
    ],
    ids=repr,
)
def test_malformed_rs_headers(wire: bytes, offset: int, message: str) -> None:
    for rule in (ieee_block(), scpi_response()):
        check_error(rule, wire, FramingError, match=message, offset=offset)


def test_rs_header_cut_at_eof_keeps_the_bytes() -> None:
    mgr = BufferManager()
    mgr.feed(b"#(12")
    mgr.feed_eof()
    with pytest.raises(StreamClosed) as caught:
        mgr.next_frame(ieee_block())
    assert caught.value.partial == b"#(12"


def test_blocks_over_nine_digits_are_encoded_as_rs_blocks() -> None:
    assert _scpi._block_header(10**9 - 1) == b"#9999999999"
    assert _scpi._block_header(10**9) == b"#(1000000000)"
    assert ieee_block().encode(b"hello") == b"#15hello\n"


def test_scpi_response_does_not_encode_lines_read_as_rs_blocks() -> None:
    with pytest.raises(ValueError, match=r"starting with b'#\(' is read as a block"):
        scpi_response().encode(b"#(3)abc")


def test_rs_block_is_linear() -> None:
    block = rs_block(bytes(4 * MiB))
    examined, payloads = drive_counting(ieee_block(), block)
    assert [len(p) for p in payloads] == [4 * MiB]
    assert examined <= 2 * 24 * (len(block) // 1024 + 1)  # at most the header, once per read


@PROPERTY
@given(blocks=st.lists(st.binary(max_size=200), max_size=6), data=st.data())
def test_rs_blocks_in_any_chunking(blocks: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(rs_block(block) for block in blocks)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    assert frames_from_chunks(ieee_block(), cut_at(stream, cuts)) == (blocks, b"")


@pytest.mark.parametrize("data", [b"", b"\x00", bytes(range(256)) * 3])
def test_rs_blocks_are_pyvisas(data: bytes) -> None:
    """The R&S blocks the tests make are pyvisa's, both ways (pyvisa has them from 1.15, which
    needs Python 3.10: older ones have nothing to compare with)."""
    if not hasattr(pyvisa.util, "to_rs_block"):
        pytest.skip(f"pyvisa {pyvisa.__version__} has no R&S blocks")
    assert pyvisa.util.to_rs_block(list(data), "B") == to_rs_block(data)
    assert pyvisa.util.from_rs_block(to_rs_block(data), "B") == list(data)


# --------------------------------------------------------------------------------------------
# A constant opening every frame: HP #A blocks, HiSLIP's "HS"


def test_hp_blocks() -> None:
    blocks = [b"hello", b"", bytes(range(256)) * 3]
    wire = b"".join(pyvisa.util.to_hp_block(list(block), "B") for block in blocks)
    check_rule_case(HP_BLOCK, wire, blocks, trailing=[b"#", b"#A", b"#A\x05\x00he"])
    assert [HP_BLOCK.encode(block) for block in blocks] == [
        pyvisa.util.to_hp_block(list(block), "B") for block in blocks
    ]


def test_hislip_messages() -> None:
    # Data (type 6), with an 8-byte length after the 8-byte header; a message of 0 bytes.
    header = b"HS\x06\x00\x00\x00\x00\x01"
    wire = header + (5).to_bytes(8, "big") + b"*IDN?" + header + bytes(8)
    check_rule_case(HISLIP, wire, [b"*IDN?", b""], trailing=[b"H", b"HS\x06"])
    assert HISLIP.encode(b"*IDN?", header=header) == wire[:21]


@pytest.mark.parametrize(
    ("rule", "wire", "offset", "message"),
    [
        (HP_BLOCK, b"#B\x05\x00hello", 1, r"expected the magic b'#A' at offset 0, got b'#B'"),
        (HP_BLOCK, b"A#\x05\x00hello", 0, r"wrong byte at offset 0"),
        # Found as soon as the wrong byte is in, the rest of the header unseen.
        (HP_BLOCK, b"X", 0, r"got b'X'"),
        (HISLIP, b"HT\x06\x00\x00\x00\x00\x01" + bytes(8), 1, r"got b'HT'"),
    ],
    ids=repr,
)
def test_a_frame_without_its_magic_is_a_framing_error(
    rule: Any, wire: bytes, offset: int, message: str
) -> None:
    check_error(rule, wire, FramingError, match=message, offset=offset)


def test_an_ieee_block_is_not_an_hp_block() -> None:
    # Before magic, length_prefixed(2, offset=2) read b"15" as a length and framed garbage.
    check_error(HP_BLOCK, b"#15hello\n", FramingError, match="got b'#1'", offset=1)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"magic": b"#AB"}, ValueError, r"magic=b'#AB' \(3 bytes\) does not fit before the length"),
        ({"magic": "#A"}, TypeError, "magic must be bytes, not str"),
        ({"magic": 35}, TypeError, "magic must be bytes, not int"),
    ],
    ids=repr,
)
def test_magic_refused_when_built(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        length_prefixed(2, offset=2, **kwargs)


def test_magic_in_repr_and_encode() -> None:
    assert repr(HP_BLOCK) == "length_prefixed(2, offset=2, byteorder='little', magic=b'#A')"
    assert HP_BLOCK.magic == b"#A"
    assert length_prefixed(2).magic == b""
    # The header defaults to the magic when the magic fills it, and must start with it.
    assert HP_BLOCK.encode(b"ab") == b"#A\x02\x00ab"
    with pytest.raises(ValueError, match=r"does not start with its magic b'HS'"):
        HISLIP.encode(b"x", header=b"SH" + bytes(6))
    with pytest.raises(ValueError, match="needs header=, the 8 bytes before the length field"):
        HISLIP.encode(b"x")
    whole = length_prefixed(2, offset=2, magic=b"#A", payload_offset=0)
    assert whole.encode(b"#A\x00\x01z") == b"#A\x00\x01z"
    with pytest.raises(ValueError, match="magic"):
        whole.encode(b"#B\x00\x01z")
