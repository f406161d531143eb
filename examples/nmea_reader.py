"""Read NMEA 0183 sentences from a TCP socket or a serial port, and check their checksums.

A sentence is one line, ``$<talker><type>,<fields>*<checksum>``, ended by CR LF (the standard)
or, from many devices and bridges, a bare LF. ``until_any((b"\\r\\n", b"\\n"))`` takes both:
of the delimiters that could match, the one that starts first wins, so CR LF is never read as
a line ending in CR. The checksum is the XOR of the bytes between ``$`` and ``*``.

Over TCP, :func:`tcp_sentences` uses the batch path (``iter_payloads``). A serial port has no
``recv``: :func:`serial_sentences` reads what pyserial has (``in_waiting``) and feeds the
manager, the sans-IO way in, which works for any source.

Run it::

    python examples/nmea_reader.py --tcp 127.0.0.1:10110
    python examples/nmea_reader.py --serial /dev/ttyUSB0 --baudrate 4800
"""

from __future__ import annotations

import argparse
import functools
import operator
import socket
from collections.abc import Iterator
from typing import NamedTuple

import serial  # type: ignore[import-untyped]

from streamframer import BufferManager, FrameDiscarded, iter_payloads, until_any

__all__ = ["NMEA_LINE", "ChecksumError", "Sentence", "parse_sentence", "serial_sentences"]

#: One sentence per line, ended by CR LF or LF.
NMEA_LINE = until_any((b"\r\n", b"\n"))
# NMEA 0183 caps a sentence at 82 characters; proprietary ones run longer. Anything past this
# is not a sentence.
MAX_SENTENCE = 1024


class ChecksumError(ValueError):
    """A sentence whose checksum does not match its content (or that has none)."""


class Sentence(NamedTuple):
    talker: str  # "GP" GPS, "GL" GLONASS, "GN" combined, ...
    kind: str  # "GGA", "RMC", ...
    fields: list[str]


def checksum(body: bytes) -> int:
    """XOR of every byte of ``body`` (the bytes between ``$`` and ``*``)."""
    return functools.reduce(operator.xor, body, 0)


def parse_sentence(line: bytes) -> Sentence:
    """Check and split one sentence (without its line ending)."""
    body, star, declared = line.partition(b"*")
    if not body.startswith(b"$") or not star or len(declared) != 2:
        raise ChecksumError(f"not a checksummed NMEA sentence: {line!r}")
    if int(declared, 16) != checksum(body[1:]):
        raise ChecksumError(f"checksum {declared!r} != {checksum(body[1:]):02X} in {line!r}")
    address, *fields = body[1:].decode("ascii").split(",")
    return Sentence(address[:2], address[2:], fields)


def tcp_sentences(sock: socket.socket) -> Iterator[Sentence]:
    """Every sentence until the peer closes the connection."""
    mgr = BufferManager(max_size=MAX_SENTENCE)
    for line in iter_payloads(sock, mgr, NMEA_LINE):
        yield parse_sentence(line)


def serial_sentences(
    port: serial.SerialBase, *, stop_when_idle: bool = False
) -> Iterator[Sentence]:
    """Sentences from a serial port (or any pyserial URL: ``loop://``, ``socket://``...).

    A line longer than a sentence can be (noise, a wrong baud rate) is dropped and reading goes
    on with the next line. With ``stop_when_idle``, stops when a read times out with nothing.
    """
    mgr = BufferManager(max_size=MAX_SENTENCE, on_overflow="discard")
    while True:
        try:
            lines = mgr.drain(NMEA_LINE)
        except FrameDiscarded:
            continue  # the garbage is gone; the next drain resumes after it
        for line in lines:
            yield parse_sentence(line)
        data = port.read(max(1, port.in_waiting))  # whatever is there, at least one byte
        if not data and stop_when_idle:
            return
        mgr.feed(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="print NMEA sentences, checksums checked")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--tcp", metavar="HOST:PORT")
    source.add_argument("--serial", metavar="PORT_OR_URL")
    parser.add_argument("--baudrate", type=int, default=4800)
    args = parser.parse_args(argv)
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        with socket.create_connection((host, int(port))) as sock:
            for sentence in tcp_sentences(sock):
                print(sentence)
    else:
        with serial.serial_for_url(args.serial, baudrate=args.baudrate, timeout=1) as port:
            for sentence in serial_sentences(port):
                print(sentence)


if __name__ == "__main__":
    main()
