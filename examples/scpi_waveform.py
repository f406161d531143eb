"""Query a SCPI instrument over TCP and read a binary waveform into numpy.

The instrument answers a query with one response message: a line, or an IEEE 488.2 block
(``#<n><length><data>``) whose data may hold any byte, newlines included, then a newline.
``scpi_response()`` frames both: the payload is the line, or the block's data alone, so
``numpy.frombuffer(frame.view, dtype)`` reads the points straight from the receive buffer.
Copy them (``.copy()``) before the frame is consumed: the buffer is reused afterwards.

Run it against an instrument (or ``scpi_instrument.py`` beside this file):
``python examples/scpi_waveform.py [PORT]`` (default 5025 on 127.0.0.1).
"""

from __future__ import annotations

import socket
import sys

import numpy as np
import numpy.typing as npt

from streamframer import BufferManager, read_frame, scpi_response

__all__ = ["RESPONSE", "query", "query_waveform"]

#: One SCPI response message: a line, or a block's data; the trailing newline is consumed.
RESPONSE = scpi_response(b"\n")


def query(sock: socket.socket, mgr: BufferManager, command: str) -> bytes:
    """Send ``command`` and return the response line (or block data)."""
    sock.sendall(command.encode() + b"\n")
    with read_frame(sock, mgr, RESPONSE, timeout=5) as frame:
        return frame.tobytes()


def query_waveform(
    sock: socket.socket, mgr: BufferManager, command: str, dtype: npt.DTypeLike
) -> npt.NDArray[np.generic]:
    """Send ``command`` and return the block it answers with as a numpy array of ``dtype``."""
    sock.sendall(command.encode() + b"\n")
    with read_frame(sock, mgr, RESPONSE, timeout=5) as frame:
        # frombuffer reads the frame in place; copy() keeps the points once it is consumed.
        return np.frombuffer(frame.view, dtype=dtype).copy()


def main(port: int = 5025) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        mgr = BufferManager()  # one per connection: it may hold the start of the next response
        print(query(sock, mgr, "*IDN?").decode())
        sock.sendall(b"WAV:TYPE f\nWAV:BORD LITT\nWAV:HEAD IEEE\n")
        waveform = query_waveform(sock, mgr, "WAV:DATA?", "<f4")
        print(f"{waveform.size} points, min {waveform.min()}, max {waveform.max()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5025)
