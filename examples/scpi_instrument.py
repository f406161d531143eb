"""A simulated SCPI instrument on TCP, built on streamframer: the server side of a socket.

It answers what a client library (pyvisa, or ``scpi_waveform.py`` beside this file) sends to a
real oscilloscope's raw SCPI port: ``*IDN?``, and a waveform it sends and receives as an IEEE
488.2 binary block, whose data bytes may be anything, newlines included.

Reading a program message takes two rules, chosen by what came before (rule selection is the
caller's job): :func:`program_header` frames the command header up to the first space or
newline; after a space, :func:`streamframer.scpi_response` frames the argument, a block
(``#<n><length><data>`` then the newline) or the rest of the line. One message per line;
``;``-joined commands are not supported.

Commands (case-insensitive)::

    *IDN?  *RST  SYST:ERR?
    WAV:POIN <n> | WAV:POIN?          points of the generated waveform
    WAV:TYPE <b|B|h|H|i|I|f|d>        the struct type of one point
    WAV:BORD <BIG|LITT>               byte order of the points
    WAV:HEAD <IEEE|HP|NONE>           block header: #<n><len>, #A<2-byte len>, or none
    WAV:DATA? | WAV:DATA <IEEE block> read or replace the waveform

Run it: ``python examples/scpi_instrument.py [PORT]`` (default 5025 on 127.0.0.1).
"""

from __future__ import annotations

import re
import socket
import struct
import sys
import threading

from streamframer import (
    Framed,
    FrameSpan,
    NeedMore,
    RuleResult,
    StreamClosed,
    ieee_block,
    scpi_response,
)

__all__ = ["ARGUMENT", "SimulatedScope", "program_header", "serve", "serve_connection"]

IDENTITY = b"STREAMFRAMER,SIMSCOPE,0,1.0"
_SEPARATOR = re.compile(rb"[ \n]")
#: The argument after a header's space: an IEEE 488.2 block or the rest of the line.
ARGUMENT = scpi_response(b"\n")
#: A waveform response: ``#``, the digit count, the length digits, the data, the newline.
BLOCK = ieee_block(b"\n")


def program_header(buffer: bytearray, scan: int) -> RuleResult:
    """A rule: one frame is a command header with the space or newline that ends it."""
    match = _SEPARATOR.search(buffer, scan)
    if match is None:
        return NeedMore(len(buffer))
    return FrameSpan(0, match.end(), match.end())


class SimulatedScope:
    """The instrument's state and its answers, one command at a time (no I/O here)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.type = "B"
        self.big_endian = True
        self.header = "IEEE"
        self.errors: list[bytes] = []
        self.generate(100)

    def generate(self, points: int) -> None:
        # 0..100: fits every type, and holds 10 and 13 (LF and CR as 8-bit data).
        self.waveform: list[float] = [float(37 * n % 101) for n in range(points)]

    def handle(self, header: bytes, argument: bytes | None) -> bytes | None:
        """The response to one command (terminator included), or ``None`` if it has none."""
        command = header.upper()
        if command == b"*IDN?":
            return IDENTITY + b"\n"
        if command == b"*RST":
            self.reset()
        elif command == b"SYST:ERR?":
            return (self.errors.pop(0) if self.errors else b'0,"No error"') + b"\n"
        elif command == b"WAV:POIN?":
            return b"%d\n" % len(self.waveform)
        elif command == b"WAV:TYPE?":
            return self.type.encode() + b"\n"
        elif command == b"WAV:DATA?":
            return self._block()
        elif argument is None:
            self.errors.append(b'-113,"Undefined header"')
        else:
            self._set(command, argument)
        return None

    def _set(self, command: bytes, argument: bytes) -> None:
        value = argument.strip()
        if command == b"WAV:POIN" and value.isdigit():
            self.generate(int(value))
        elif command == b"WAV:TYPE" and value.decode("latin-1") in "bBhHiIfd" and len(value) == 1:
            self.type = value.decode()
        elif command == b"WAV:BORD" and value.upper() in (b"BIG", b"LITT"):
            self.big_endian = value.upper() == b"BIG"
        elif command == b"WAV:HEAD" and value.upper() in (b"IEEE", b"HP", b"NONE"):
            self.header = value.upper().decode()
        elif command == b"WAV:DATA" and len(argument) % struct.calcsize(self.type) == 0:
            # ``argument`` is the block's data: the rule took the header off.
            count = len(argument) // struct.calcsize(self.type)
            self.waveform = [float(x) for x in struct.unpack(self._format(count), argument)]
        else:
            self.errors.append(b'-224,"Illegal parameter value"')

    def _format(self, count: int) -> str:
        return f"{'>' if self.big_endian else '<'}{count}{self.type}"

    def _block(self) -> bytes:
        """The waveform as a response message, terminator included."""
        points = self.waveform if self.type in "fd" else [int(x) for x in self.waveform]
        data = struct.pack(self._format(len(points)), *points)
        if self.header == "IEEE":
            return BLOCK.encode(data)
        if self.header == "HP":  # HP's format: "#A", then the length as 2 binary bytes
            length = len(data).to_bytes(2, "big" if self.big_endian else "little")
            return b"#A" + length + data + b"\n"
        return data + b"\n"


def serve_connection(sock: socket.socket, scope: SimulatedScope) -> int:
    """Answer one client until it closes the connection; returns the commands handled."""
    client = Framed(sock, program_header)
    handled = 0
    while True:
        try:
            with client.read_frame() as frame:
                header = frame.tobytes()
        except StreamClosed as closed:
            if closed.partial:
                raise
            return handled
        argument = None
        if header.endswith(b" "):
            with client.read_frame(rule=ARGUMENT) as frame:
                argument = frame.tobytes()
        if header.strip():
            handled += 1
            response = scope.handle(header.strip(), argument)
            if response is not None:
                client.write(response)


def serve(listener: socket.socket, scope: SimulatedScope, stop: threading.Event) -> None:
    """Serve clients one after another until ``stop`` is set (checked between clients)."""
    listener.settimeout(0.1)
    while not stop.is_set():
        try:
            sock, _ = listener.accept()
        except socket.timeout:
            continue
        with sock:
            sock.settimeout(None)
            serve_connection(sock, scope)


def main(port: int = 5025) -> None:
    with socket.create_server(("127.0.0.1", port)) as listener:
        print(f"simulated scope on 127.0.0.1:{port}; Ctrl-C stops it")
        serve(listener, SimulatedScope(), threading.Event())


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5025)
