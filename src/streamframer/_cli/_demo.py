"""``streamframer demo``: a simulated SCPI instrument whose replies are framed live.

The instrument runs in a thread of this process, on a loopback port. It answers each query by
writing its reply in random pieces; the demo reads them with the library, over a real TCP
connection, and prints every frame with the number of reads it took.

To make every piece one read (and the output the same on every run with the same seed), the
instrument sends its next piece only once the demo has read the previous one, like a slow
instrument that trickles its output.
"""

from __future__ import annotations

import array
import math
import random
import socket
import threading
import time
from typing import TYPE_CHECKING, TextIO

from .. import (
    BufferManager,
    StreamClosed,
    StreamFramerError,
    iter_frames,
    read_frame,
    scpi_response,
    until_delim,
    until_eot,
)
from ._common import EXIT_FRAMING, Failure, Meter

if TYPE_CHECKING:
    from .. import Rule

__all__ = ["reply", "run_demo"]

IDN = "Simulated Instruments,SIM-5025,{serial},1.0"
EOT = 0x04
WAVEFORM_POINTS = 2000
PIECE_DELAY = 0.002  # seconds between two pieces of a reply: the instrument "trickles"
READ_WAIT = 5.0  # seconds the instrument waits for the demo to read a piece, at most
QUERIES = ("*IDN?", "MEAS:VOLT?", "MEAS:VOLT?", "MEAS:VOLT?", "CURV?", "DIAG:LOG?")


class Instrument:
    """A simulated SCPI instrument: answers queries, one connection, each reply in pieces."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.address: tuple[str, int] = self.listener.getsockname()
        # Set once the demo has received every byte written so far, so that each piece is
        # written only after the previous one was read: the output is the same for a seed,
        # however the library sizes its reads.
        self.piece_read = threading.Event()
        self.written = 0
        #: The payload each reply carries, in order: what the demo must get back.
        self.sent: list[bytes] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="simulated-instrument")
        self._thread.daemon = True
        self.serial = rng.randint(10000, 99999)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.listener.close()
        self._thread.join(READ_WAIT)

    def reply(self, command: str) -> tuple[bytes, bytes]:
        """The bytes the instrument writes for ``command``, and the payload they carry."""
        answer = reply(self.rng, self.serial, command)
        assert answer is not None  # the demo sends queries only
        return answer

    def _serve(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return  # stopped before the demo connected
        with connection:
            try:
                mgr = BufferManager(max_size=1024)
                for frame in iter_frames(connection, mgr, until_delim(b"\n")):
                    wire, payload = self.reply(frame.tobytes().decode("ascii").strip())
                    self.sent.append(payload)
                    for piece in fragments(self.rng, wire):
                        self.piece_read.clear()
                        self.written += len(piece)
                        connection.sendall(piece)
                        if not self.piece_read.wait(READ_WAIT):
                            raise TimeoutError("the demo stopped reading")
                        time.sleep(PIECE_DELAY)
            except (OSError, StreamClosed) as exc:
                # Recorded before the connection closes, so the demo finds it when it sees the
                # end of the stream; run_demo reports it if the demo fails.
                self.error = exc


def reply(rng: random.Random, serial: int, command: str) -> tuple[bytes, bytes] | None:
    """What the instrument writes for ``command``, and the payload it carries; ``None`` for a
    command that gets no reply (no ``?``: ``*RST``, ``WAV:TYPE f``)."""
    if command == "*IDN?":
        text = IDN.format(serial=serial).encode()
        return text + b"\n", text
    if command == "MEAS:VOLT?":
        text = f"{rng.gauss(5.0, 0.002):+.6E}".encode()
        return text + b"\n", text
    if command == "CURV?":
        data = waveform(rng)
        size = str(len(data))
        return f"#{len(size)}{size}".encode() + data + b"\n", data
    if command == "DIAG:LOG?":
        text = (
            f"self-test passed\nuptime {rng.randint(1000, 99999)} s\n"
            f"temperature {rng.uniform(25, 45):.1f} C\n0 errors"
        ).encode()
        return text + bytes((EOT,)), text
    if "?" not in command:
        return None
    text = b'-113,"Undefined header"'
    return text + b"\n", text


def waveform(rng: random.Random) -> bytes:
    """Two periods of a sine as signed 8-bit samples.

    Steps between neighbours stay below 1, so every value from -amplitude to +amplitude occurs,
    10 among them: the block holds newline bytes that a line-based reader would cut it at.
    """
    amplitude = rng.randint(80, 120)
    phase = rng.uniform(0, 2 * math.pi)
    samples = array.array(
        "b",
        (
            round(amplitude * math.sin(phase + 4 * math.pi * k / WAVEFORM_POINTS))
            for k in range(WAVEFORM_POINTS)
        ),
    )
    return samples.tobytes()


def fragments(rng: random.Random, data: bytes) -> list[bytes]:
    """``data`` cut into random pieces of 1 to a quarter of its length (at least 2) bytes."""
    pieces = []
    longest = max(2, len(data) // 4)
    at = 0
    while at < len(data):
        size = rng.randint(1, longest)
        pieces.append(data[at : at + size])
        at += size
    return pieces


def run_demo(seed: int | None, out: TextIO) -> int:
    """Run the demo, printing to ``out``; return the exit code (0: every frame as sent)."""
    if seed is None:
        seed = random.SystemRandom().randrange(1 << 16)
    instrument = Instrument(random.Random(seed))
    scpi: Rule = scpi_response(b"\n")
    eot: Rule = until_eot(EOT)
    out.write(
        f"streamframer demo (seed {seed}): a simulated SCPI instrument on a loopback port\n"
        "writes each reply in random pieces; the replies are framed as the pieces arrive.\n"
    )
    instrument.start()
    received: list[bytes] = []
    read_sizes: list[int] = []  # of the reads that brought the current reply
    counted = 0  # bytes received up to the previous read
    spanned = 0

    def on_read() -> None:
        nonlocal counted
        read_sizes.append(meter.received - counted)
        counted = meter.received
        if meter.received >= instrument.written:
            instrument.piece_read.set()

    try:
        with socket.create_connection(instrument.address, timeout=READ_WAIT) as sock:
            meter = Meter(sock.recv_into, on_read)
            mgr = BufferManager()
            for query in QUERIES:
                rule = eot if query == "DIAG:LOG?" else scpi
                sock.sendall(query.encode() + b"\n")
                del read_sizes[:]
                at = meter.received
                with read_frame(meter, mgr, rule) as frame:
                    payload = frame.tobytes()
                spanned += len(read_sizes) > 1
                received.append(payload)
                out.write(f"\n>> {query}\n{describe(query, payload)}")
                pieces = "+".join(map(str, read_sizes))
                out.write(
                    f"   {meter.received - at} bytes arrived in {len(read_sizes)} reads "
                    f"({pieces}); rule {rule!r}\n"
                )
                out.flush()
            leftover = len(mgr)
    except (OSError, StreamFramerError) as exc:
        cause = f" (the instrument: {instrument.error})" if instrument.error else ""
        raise Failure(EXIT_FRAMING, f"the demo failed: {exc}{cause}") from None
    finally:
        instrument.stop()

    matching = sum(got == sent for got, sent in zip(received, instrument.sent))
    out.write(
        f"\nsummary: {len(received)} frames ({sum(map(len, received))} payload bytes) from "
        f"{meter.received} bytes in {meter.reads} reads; {spanned} frames spanned several reads\n"
        f"         {matching} of {len(instrument.sent)} frames match what the instrument sent; "
        f"{leftover} bytes left over\n"
        "\nnext, on a real instrument: streamframer query tcp://HOST:5025 '*IDN?'\n"
    )
    ok = matching == len(QUERIES) == len(instrument.sent) and leftover == 0
    return 0 if ok else 1


def describe(query: str, payload: bytes) -> str:
    """The lines printed for one frame."""
    if query == "CURV?":
        samples = array.array("b", payload)
        first = " ".join(map(str, samples[:8]))
        newlines = payload.count(b"\n")
        return (
            f"<< IEEE 488.2 block: {len(payload)} bytes, int8 samples from {min(samples)} to "
            f"{max(samples)}: {first} ...\n"
            f"   {newlines} of its bytes are newlines: a line reader would have cut it into "
            f"{newlines + 1} pieces\n"
        )
    lines = payload.decode("ascii", "backslashreplace").split("\n")
    return "".join(f"<< {line!r}\n" for line in lines)
