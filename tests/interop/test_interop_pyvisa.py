"""pyvisa with the pyvisa-py backend, on a raw TCP SOCKET resource, both ways.

pyvisa writes real IEEE 488.2 blocks and lines to a listener that frames them with streamframer;
and pyvisa queries a simulated instrument (examples/scpi_instrument.py) built on streamframer.
"""

from __future__ import annotations

import collections
import random
import socket
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import pyvisa
from scpi_instrument import ARGUMENT, IDENTITY, SimulatedScope, program_header
from scpi_waveform import RESPONSE, query_waveform

from streamframer import BufferManager, Framed, ieee_block, read_frame

from .servers import IO_TIMEOUT, LOOPBACK, connect

DATATYPES = "bBhHiIfd"


@pytest.fixture
def visa() -> Iterator[pyvisa.ResourceManager]:
    manager = pyvisa.ResourceManager("@py")
    try:
        yield manager
    finally:
        manager.close()


def _open(manager: pyvisa.ResourceManager, port: int) -> Any:
    return manager.open_resource(
        f"TCPIP::{LOOPBACK}::{port}::SOCKET",
        read_termination="\n",
        write_termination="\n",
        timeout=int(IO_TIMEOUT * 1000),
    )


def _values_with_newlines(datatype: str, count: int, seed: int) -> list[Any]:
    """``count`` values of ``datatype`` whose packed bytes hold many LF and CR bytes."""
    size = struct.calcsize(datatype)
    rng = random.Random(seed)
    raw = bytes(rng.choice(b"\n\n\r\x00\xff#1") for _ in range(size * count))
    values = list(struct.unpack(f"<{count}{datatype}", raw))
    return [0.5 if value != value else value for value in values]  # no NaN: NaN != NaN


def test_pyvisa_writes_frame_as_lines_and_blocks(
    visa: pyvisa.ResourceManager, frames_checked: collections.Counter[str]
) -> None:
    """What pyvisa's write and write_binary_values send, framed with scpi_response."""
    with socket.create_server((LOOPBACK, 0)) as listener:
        instrument = _open(visa, listener.getsockname()[1])
        conn, _ = listener.accept()
    with conn:
        conn.settimeout(IO_TIMEOUT)
        expected: list[bytes] = []
        instrument.write("MEAS:VOLT? (@1)")
        expected.append(b"MEAS:VOLT? (@1)")
        for number, datatype in enumerate(DATATYPES):
            for big_endian in (False, True):
                values = _values_with_newlines(datatype, 50 + number, seed=number)
                instrument.write_binary_values(
                    "", values, datatype=datatype, is_big_endian=big_endian
                )
                order = ">" if big_endian else "<"
                expected.append(struct.pack(f"{order}{len(values)}{datatype}", *values))
        big = np.arange(200_000, dtype="<f4") / 7
        instrument.write_binary_values("", big, datatype="f")
        expected.append(big.tobytes())
        instrument.write_binary_values("", [], datatype="h")  # "#10": an empty block
        expected.append(b"")
        instrument.write("*OPC?")
        expected.append(b"*OPC?")

        mgr = BufferManager()
        framed = []
        for _ in expected:
            with read_frame(conn, mgr, RESPONSE, timeout=IO_TIMEOUT) as frame:
                framed.append(frame.tobytes())
        assert framed == expected

        # A block after a command header: the header rule, then the argument rule.
        values = _values_with_newlines("d", 300, seed=99)
        instrument.write_binary_values("WAV:DATA ", values, datatype="d", is_big_endian=True)
        instrument.write("WAV:POIN 12")
        commands = []
        for _ in range(2):
            with read_frame(conn, mgr, program_header, timeout=IO_TIMEOUT) as frame:
                header = frame.tobytes()
            with read_frame(conn, mgr, ARGUMENT, timeout=IO_TIMEOUT) as frame:
                commands.append((header, frame.tobytes()))
        assert commands == [
            (b"WAV:DATA ", struct.pack(">300d", *values)),
            (b"WAV:POIN ", b"12"),
        ]
        instrument.close()
        assert conn.recv(1) == b""  # nothing left unframed
        assert len(mgr) == 0
    frames_checked["pyvisa"] += len(framed) + 2 * len(commands)


@pytest.mark.parametrize("header_fmt", ["ieee", "hp", "empty"])
def test_pyvisa_queries_the_simulated_instrument(
    visa: pyvisa.ResourceManager,
    scope: tuple[int, SimulatedScope],
    header_fmt: str,
    frames_checked: collections.Counter[str],
) -> None:
    port, _ = scope
    instrument = _open(visa, port)
    try:
        assert instrument.query("*IDN?") == IDENTITY.decode()
        instrument.write(f"WAV:HEAD {'NONE' if header_fmt == 'empty' else header_fmt.upper()}")
        checked = 2
        for number, datatype in enumerate(DATATYPES):
            for big_endian in (True, False):
                instrument.write(f"WAV:TYPE {datatype}")
                instrument.write(f"WAV:BORD {'BIG' if big_endian else 'LITT'}")
                instrument.write("WAV:POIN 101")
                generated = [37 * n % 101 for n in range(101)]  # holds 10 and 13: LF, CR
                container = (list, tuple, np.array)[number % 3]
                options = {
                    "datatype": datatype,
                    "is_big_endian": big_endian,
                    "header_fmt": header_fmt,
                    "data_points": 101,
                }
                read = instrument.query_binary_values("WAV:DATA?", container=container, **options)
                assert type(read) is (np.ndarray if container is np.array else container)
                assert list(read) == generated

                # Round trip: upload values full of LF bytes, read them back.
                values = _values_with_newlines(datatype, 64, seed=number)
                instrument.write_binary_values(
                    "WAV:DATA ", values, datatype=datatype, is_big_endian=big_endian
                )
                options["data_points"] = len(values)
                assert instrument.query_binary_values("WAV:DATA?", **options) == values
                checked += 7
        assert instrument.query("SYST:ERR?") == '0,"No error"'
        instrument.write("NO:SUCH:COMMAND")
        assert instrument.query("SYST:ERR?") == '-113,"Undefined header"'
        checked += 3
    finally:
        instrument.close()
    frames_checked["pyvisa"] += checked


def test_numpy_waveform_recipe(
    scope: tuple[int, SimulatedScope], frames_checked: collections.Counter[str]
) -> None:
    """examples/scpi_waveform.py against the simulated instrument, a big block included."""
    port, _ = scope
    with Framed(connect(port), RESPONSE) as instrument:
        assert instrument.query(b"*IDN?", timeout=IO_TIMEOUT) == IDENTITY
        checked = 1
        for datatype, dtype in (("B", "u1"), ("h", ">i2"), ("f", ">f4"), ("d", ">f8")):
            for setting in (f"WAV:TYPE {datatype}", "WAV:BORD BIG", "WAV:POIN 1001"):
                instrument.send(setting.encode())
            waveform = query_waveform(instrument, b"WAV:DATA?", dtype)
            assert waveform.dtype == np.dtype(dtype)
            assert waveform.tolist() == [37 * n % 101 for n in range(1001)]
            checked += 4
        # 4 MB of float64 in one block, read across many recv() calls.
        instrument.write(b"WAV:TYPE d\nWAV:BORD LITT\nWAV:POIN 500000\n")
        waveform = query_waveform(instrument, b"WAV:DATA?", "<f8")
        assert np.array_equal(waveform, np.arange(500_000) * 37 % 101)
        assert instrument.query(b"WAV:POIN?", timeout=IO_TIMEOUT) == b"500000"
        checked += 5
        assert len(instrument.manager) == 0
    frames_checked["scpi-instrument"] += checked


def test_a_block_encoded_by_ieee_block_is_read_back_with_query(
    scope: tuple[int, SimulatedScope], frames_checked: collections.Counter[str]
) -> None:
    """A waveform uploaded as ``WAV:DATA <ieee_block().encode(data)>``, then queried back."""
    port, instrument_state = scope
    values = _values_with_newlines("d", 1000, seed=7)
    data = struct.pack(">1000d", *values)
    with Framed(connect(port), RESPONSE) as instrument:
        instrument.send(b"WAV:TYPE d")
        instrument.send(b"WAV:BORD BIG")
        instrument.write(b"WAV:DATA " + ieee_block().encode(data))
        assert instrument.query(b"WAV:DATA?", timeout=IO_TIMEOUT) == data
        assert instrument.query(b"SYST:ERR?", timeout=IO_TIMEOUT) == b'0,"No error"'
        assert instrument.query(b"WAV:POIN?", timeout=IO_TIMEOUT) == b"1000"
    assert instrument_state.waveform == values
    frames_checked["scpi-instrument"] += 3
