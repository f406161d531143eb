"""Query a SCPI instrument over TCP and read a binary waveform into numpy.

The instrument answers a query with one response message: a line, or an IEEE 488.2 block
(``#<n><length><data>``) whose data may hold any byte, newlines included, then a newline.
``scpi_response()`` frames both: the payload is the line, or the block's data alone, so
``numpy.frombuffer(frame.view, dtype)`` reads the points straight from the receive buffer.
Copy them (``.copy()``) before the frame is consumed: the buffer is reused afterwards. The
connection is a :class:`streamframer.Framed`: ``query()`` sends a command as a line and returns
the reply.

Run it against an instrument (or ``scpi_instrument.py`` beside this file):
``python examples/scpi_waveform.py [PORT]`` (default 5025 on 127.0.0.1).
"""

from __future__ import annotations

import sys

import numpy as np
import numpy.typing as npt

from streamframer import Framed, connect, scpi_response

__all__ = ["RESPONSE", "query_waveform"]

#: One SCPI response message: a line, or a block's data; the trailing newline is consumed.
#: Commands go out through the same rule: ``scope.send(b"*RST")`` writes the line ``*RST\n``.
RESPONSE = scpi_response(b"\n")


def query_waveform(scope: Framed, command: bytes, dtype: npt.DTypeLike) -> npt.NDArray[np.generic]:
    """Send ``command`` and return the block it answers with as a numpy array of ``dtype``."""
    scope.send(command)
    with scope.read_frame(timeout=5) as frame:
        # frombuffer reads the frame in place; copy() keeps the points once it is consumed.
        return np.frombuffer(frame.view, dtype=dtype).copy()


def main(port: int = 5025) -> None:
    with connect(f"tcp://127.0.0.1:{port}", RESPONSE, timeout=5) as scope:
        print(scope.query(b"*IDN?").decode())  # send a line, return the reply
        for setting in (b"WAV:TYPE f", b"WAV:BORD LITT", b"WAV:HEAD IEEE"):
            scope.send(setting)
        waveform = query_waveform(scope, b"WAV:DATA?", "<f4")
        print(f"{waveform.size} points, min {waveform.min()}, max {waveform.max()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5025)
