"""A real pymodbus TCP server, its responses framed by the MBAP length-field rule."""

from __future__ import annotations

import collections
import random
import struct

import pytest
from modbus_tcp import MBAP, REQUEST, ModbusConnection, ModbusError

from .conftest import ModbusServer
from .replay import Recorder, feed_in_pieces
from .servers import connect


def test_reads_match_the_datastore(
    modbus_server: ModbusServer, frames_checked: collections.Counter[str]
) -> None:
    registers, coils = modbus_server.registers, modbus_server.coils
    # (address, count): single values, odd sizes, the protocol maxima (125 registers, 2000 coils
    # would exceed the store: 300), the last values of the store.
    register_reads = [(0, 1), (0, 10), (7, 13), (50, 125), (199, 1), (75, 125)]
    coil_reads = [(0, 1), (0, 8), (3, 9), (17, 100), (0, 300), (299, 1), (100, 199)]
    with connect(modbus_server.port) as sock:
        modbus = ModbusConnection(sock)
        for address, count in register_reads:
            assert modbus.read_holding_registers(address, count) == registers[address:][:count]
        for address, count in coil_reads:
            assert modbus.read_coils(address, count) == coils[address:][:count]
        assert len(modbus.framed.manager) == 0
    frames_checked["modbus"] += len(register_reads) + len(coil_reads)


def test_writes_then_reads_back(
    modbus_server: ModbusServer, frames_checked: collections.Counter[str]
) -> None:
    registers, coils = list(modbus_server.registers), list(modbus_server.coils)
    rng = random.Random(16)
    with connect(modbus_server.port) as sock:
        modbus = ModbusConnection(sock)
        frames = 0
        for _ in range(20):
            address, value = rng.randrange(200), rng.randrange(0x10000)
            modbus.write_register(address, value)
            registers[address] = value
            block_at = rng.randrange(150)
            block = [rng.randrange(0x10000) for _ in range(rng.randint(1, 50))]
            modbus.write_registers(block_at, block)
            registers[block_at : block_at + len(block)] = block
            coil = rng.randrange(300)
            modbus.write_coil(coil, not coils[coil])
            coils[coil] = not coils[coil]
            frames += 3
        assert modbus.read_holding_registers(0, 100) == registers[:100]
        assert modbus.read_holding_registers(100, 100) == registers[100:]
        assert modbus.read_coils(0, 300) == coils
    frames_checked["modbus"] += frames + 3


@pytest.mark.parametrize(
    ("function", "address", "count", "code"),
    # Illegal data addresses: the one exception both pymodbus 3.8 and 3.16 report the same way.
    [(3, 190, 20, 2), (3, 200, 1, 2), (3, 150, 51, 2)],
)
def test_exception_responses(
    modbus_server: ModbusServer,
    frames_checked: collections.Counter[str],
    function: int,
    address: int,
    count: int,
    code: int,
) -> None:
    """An exception response is a short frame; the next request is framed as usual."""
    with connect(modbus_server.port) as sock:
        modbus = ModbusConnection(sock)
        with pytest.raises(ModbusError) as error:
            modbus.request(struct.pack(">BHH", function, address, count))
        assert (error.value.function, error.value.code) == (function, code)
        assert modbus.read_holding_registers(0, 3) == modbus_server.registers[:3]
    frames_checked["modbus"] += 2


def test_replayed_in_any_chunking(
    modbus_server: ModbusServer, frames_checked: collections.Counter[str]
) -> None:
    """The server's exact bytes, fed back byte by byte and in uneven pieces: the same frames."""
    counts = (1, 2, 60, 125, 9)
    with connect(modbus_server.port) as sock:
        recorder = Recorder(sock)
        modbus = ModbusConnection(recorder)  # type: ignore[arg-type]
        values = [modbus.read_holding_registers(0, count) for count in counts]
    assert values == [modbus_server.registers[:count] for count in counts]
    # Each response's payload, the whole frame: transaction id (1, 2, ...), protocol 0, the
    # length of what follows, unit id, function 3, byte count, the registers.
    expected = [
        struct.pack(">HHHBBB", transaction, 0, 3 + 2 * count, modbus.unit, 3, 2 * count)
        + struct.pack(f">{count}H", *modbus_server.registers[:count])
        for transaction, count in enumerate(counts, start=1)
    ]
    for piece in (1, 5, "random"):
        assert feed_in_pieces(MBAP, bytes(recorder.received), piece, seed=3) == expected
        frames_checked["modbus"] += len(expected)


def test_requests_are_encoded_by_the_length_rule() -> None:
    """REQUEST.encode builds the ADU the specification packs by hand, and refuses what the
    length field cannot announce (more than 254 bytes after it)."""
    pdu = struct.pack(">BHH", 3, 107, 3)
    ids = struct.pack(">HH", 0x1234, 0)
    assert (
        REQUEST.encode(b"\x11" + pdu, header=ids)
        == struct.pack(">HHHB", 0x1234, 0, len(pdu) + 1, 0x11) + pdu
    )
    with pytest.raises(ValueError, match="max_length=254"):
        REQUEST.encode(b"\x11" + bytes(254), header=ids)
    with pytest.raises(ValueError, match="needs header="):
        REQUEST.encode(b"\x11" + pdu)
