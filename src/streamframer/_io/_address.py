"""Addresses: the one parser behind ``connect()`` and the ``streamframer`` command.

==================================  ==============================================================
``tcp://host:port``                 TCP (an IPv6 host in brackets: ``tcp://[::1]:5025``)
``tls://host:port``                 TCP with TLS
``host:port``, ``[v6addr]:port``    TCP: ``127.0.0.1:5025``, ``localhost:4000``, ``[::1]:5025``
``TCPIP[board]::host::port::SOCKET``  VISA's raw socket resource: TCP (the board is ignored)
``ASRL<device>::INSTR``             VISA's serial resource: ``ASRL/dev/ttyUSB0::INSTR``,
                                    ``ASRLCOM3::INSTR``; a number is VISA's port number,
                                    ``ASRL1::INSTR`` is ``COM1`` on Windows and ``/dev/ttyS0``
                                    elsewhere; 9600 baud unless ``baud`` says otherwise
a device with ``baud``              a serial port: ``/dev/ttyUSB0``, ``COM3``
``-``                               standard input (and output)
any other path                      a file, FIFO, pseudo-terminal or character device
==================================  ==============================================================

``host:port`` is taken for TCP when the host is a name or an IPv4 address and the port a number;
a file with such a name is ``./name:123``. VISA names are case-insensitive, as in VISA.

Refused with a ``ValueError`` that lists these forms: an unknown scheme, a query string or a
path after ``host:port`` (``tcp://host:5025?timeout=1``: options are keyword arguments), and the
VISA resources that are message protocols rather than byte streams (``TCPIP::host::INSTR``,
VXI-11; ``::hislip0::INSTR``; ``USB``, ``GPIB``, ``VXI``, ``PXI``): pyvisa serves those.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple
from urllib.parse import urlsplit

__all__ = ["ACCEPTED", "Address", "parse_address"]

#: The forms, for messages.
ACCEPTED = (
    "tcp://host:port, tls://host:port, host:port, [v6addr]:port, "
    "TCPIP[board]::host::port::SOCKET, ASRL<device>::INSTR, a serial device with a baud rate, "
    "- (standard input and output), or a path"
)
VISA_DEFAULT_BAUD = 9600

_HOST_PORT = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.%\w]+)\]|(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*)):(?P<port>\d+)"
)
_VISA_SOCKET = re.compile(r"TCPIP\d*::(?P<host>[^:\[\]]+|\[[^\]]+\])::(?P<port>\d+)::SOCKET", re.I)
_VISA_SERIAL = re.compile(r"ASRL(?P<device>.+)::INSTR", re.I)
_VISA_MESSAGE = re.compile(r"(TCPIP\d*|USB\d*|GPIB\d*|VXI\d*|PXI\d*|ASRL[^:]*)::", re.I)


class Address(NamedTuple):
    """What an address names: ``kind`` is ``"tcp"``, ``"tls"``, ``"serial"``, ``"stdio"`` or
    ``"path"``; ``host`` and ``port`` for sockets; ``path`` for the others (the device, the
    file); ``baud`` for a serial port."""

    kind: str
    host: str = ""
    port: int = 0
    path: str = ""
    baud: int | None = None


def parse_address(address: str, baud: int | None = None) -> Address:
    """The :class:`Address` that ``address`` names; ``baud`` makes a path a serial port."""
    if not isinstance(address, str):
        raise TypeError(f"address must be a str, not {type(address).__name__}")
    if "://" in address:
        return _url(address)
    visa = _visa(address, baud)
    if visa is not None:
        return visa
    match = _HOST_PORT.fullmatch(address)
    if match is not None:
        host = match["v6"] or match["host"]
        return Address("tcp", host, _port(match["port"], address))
    if baud is not None:
        return Address("serial", path=address, baud=baud)
    if address == "-":
        return Address("stdio", path="-")
    if not address:
        raise ValueError(f"an empty address: use {ACCEPTED}")
    return Address("path", path=address)


def _url(address: str) -> Address:
    scheme = address.split("://", 1)[0].lower()
    if scheme not in ("tcp", "tls"):
        raise ValueError(f"unknown scheme {scheme!r} in {address!r}: use {ACCEPTED}")
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError as exc:  # an unclosed IPv6 bracket, a port out of range or not a number
        raise ValueError(f"bad address {address!r}: {exc}; expected {scheme}://host:port") from None
    if parts.query or parts.fragment:
        raise ValueError(
            f"bad address {address!r}: a query string is not an option here (timeout, cafile, "
            f"... are keyword arguments); use {ACCEPTED}"
        )
    if not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ValueError(f"bad address {address!r}: expected {scheme}://host:port")
    return Address(scheme, parts.hostname, port)


def _visa(address: str, baud: int | None) -> Address | None:
    match = _VISA_SOCKET.fullmatch(address)
    if match is not None:
        return Address("tcp", match["host"].strip("[]"), _port(match["port"], address))
    match = _VISA_SERIAL.fullmatch(address)
    if match is not None:
        device = match["device"]
        if device.isdigit():  # VISA's port numbers start at 1
            number = int(device)
            if number < 1:
                raise ValueError(f"bad address {address!r}: VISA serial ports start at ASRL1")
            device = f"COM{number}" if os.name == "nt" else f"/dev/ttyS{number - 1}"
        return Address("serial", path=device, baud=VISA_DEFAULT_BAUD if baud is None else baud)
    if _VISA_MESSAGE.match(address):
        raise ValueError(
            f"{address!r} is a VISA resource spoken through a message protocol (VXI-11, "
            "HiSLIP, USBTMC, GPIB), not a byte stream: pyvisa serves those. A byte stream is "
            f"one of: {ACCEPTED}"
        )
    return None


def _port(text: str, address: str) -> int:
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(f"bad address {address!r}: port {port} is not from 1 to 65535")
    return port
