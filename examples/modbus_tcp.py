"""A Modbus TCP client on a raw socket: responses framed by the MBAP length field.

Every Modbus TCP message starts with a 7-byte MBAP header; its length field counts the bytes
that follow it (the unit id and the PDU)::

    +----------------+-------------+--------+---------+---------------------+
    | transaction id | protocol id | length | unit id | PDU: function, data |
    |    2 bytes     |  2 bytes, 0 |   2    |    1    |  length - 1 bytes   |
    +----------------+-------------+--------+---------+---------------------+
    |<------ offset=4 ------------>|<------- length bytes ----------------->|

so ``length_prefixed(2, offset=4)`` frames it: the frame is 4 + 2 + length bytes. The manager
knows the size as soon as six bytes are in, before the rest arrives. ``payload_offset=0`` keeps
the header in the payload, to match the transaction id of the response with the request's;
``max_length=254`` is the specification's limit, so a corrupt length is a ``FramingError`` at
once instead of a wait for bytes that never come. Requests are built by the same layout's
encoder: the unit id and the PDU are its payload, the transaction and protocol ids the header
before the length field, and the length is counted for you.

Run it against a server: ``python examples/modbus_tcp.py [PORT]`` (default 502 on 127.0.0.1).
"""

from __future__ import annotations

import socket
import struct
import sys

from streamframer import BufferManager, Framed, length_prefixed

__all__ = ["MBAP", "REQUEST", "ModbusConnection", "ModbusError", "transact"]

#: The MBAP rule: a 2-byte big-endian length field after the transaction and protocol ids;
#: the payload is the whole frame, header included.
MBAP = length_prefixed(2, offset=4, payload_offset=0, max_length=254)
#: The same layout for requests: ``REQUEST.encode(unit_id + pdu, header=ids)``.
REQUEST = length_prefixed(2, offset=4, max_length=254)

READ_COILS = 1
READ_HOLDING_REGISTERS = 3
WRITE_SINGLE_COIL = 5
WRITE_SINGLE_REGISTER = 6
WRITE_MULTIPLE_REGISTERS = 16


class ModbusError(Exception):
    """The server answered with an exception response (function code + 0x80)."""

    def __init__(self, function: int, code: int) -> None:
        super().__init__(f"function {function:#04x} failed with exception code {code}")
        self.function = function
        #: 1 illegal function, 2 illegal data address, 3 illegal data value, ...
        self.code = code


class ModbusConnection:
    """One request at a time over a connected socket."""

    def __init__(self, sock: socket.socket, unit: int = 1) -> None:
        # Small: no Modbus TCP frame is longer than 260 bytes, anything bigger is garbage.
        self.framed = Framed(sock, MBAP, manager=BufferManager(max_size=260))
        self.unit = unit
        self.transaction = 0

    def request(self, pdu: bytes) -> bytes:
        """Send one PDU, return the response PDU (function code first)."""
        self.transaction = (self.transaction + 1) % 0x10000
        return transact(self.framed, self.transaction, self.unit, pdu)

    def read_holding_registers(self, address: int, count: int) -> list[int]:
        response = self.request(struct.pack(">BHH", READ_HOLDING_REGISTERS, address, count))
        size = response[1]
        return list(struct.unpack(f">{size // 2}H", response[2 : 2 + size]))

    def read_coils(self, address: int, count: int) -> list[bool]:
        response = self.request(struct.pack(">BHH", READ_COILS, address, count))
        packed = response[2 : 2 + response[1]]
        # Coil n is bit n % 8 (least significant first) of byte n // 8.
        return [bool(packed[n // 8] >> (n % 8) & 1) for n in range(count)]

    def write_register(self, address: int, value: int) -> None:
        pdu = struct.pack(">BHH", WRITE_SINGLE_REGISTER, address, value)
        if self.request(pdu) != pdu:  # the server echoes the request
            raise ValueError(f"write of register {address} not echoed")

    def write_registers(self, address: int, values: list[int]) -> None:
        data = struct.pack(f">{len(values)}H", *values)
        pdu = struct.pack(">BHHB", WRITE_MULTIPLE_REGISTERS, address, len(values), len(data))
        response = self.request(pdu + data)
        if response != pdu[:5]:
            raise ValueError(f"write of {len(values)} registers at {address} not acknowledged")

    def write_coil(self, address: int, value: bool) -> None:
        pdu = struct.pack(">BHH", WRITE_SINGLE_COIL, address, 0xFF00 if value else 0)
        if self.request(pdu) != pdu:
            raise ValueError(f"write of coil {address} not echoed")


def transact(framed: Framed, transaction: int, unit: int, pdu: bytes) -> bytes:
    """Send one request, wait for its response, return the response PDU."""
    ids = struct.pack(">HH", transaction, 0)  # the transaction id, protocol 0
    framed.write(REQUEST.encode(bytes([unit]) + pdu, header=ids))
    with framed.read_frame(timeout=5) as frame:
        adu = frame.tobytes()  # MBAP header, unit id, PDU
    header = struct.unpack_from(">HHHB", adu)
    if header != (transaction, 0, len(adu) - 6, unit):
        raise ValueError(f"response header {header} does not answer transaction {transaction}")
    response, function = adu[7:], pdu[0]
    if response[0] == function | 0x80:
        raise ModbusError(function, response[1])
    if response[0] != function:
        raise ValueError(f"response to function {response[0]}, expected {function}")
    return response


def main(port: int = 502) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        modbus = ModbusConnection(sock)
        print("holding registers 0-9:", modbus.read_holding_registers(0, 10))
        print("coils 0-15:", modbus.read_coils(0, 16))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 502)
