"""A SCPI client on anyio, so on asyncio or trio alike: ``streamframer.anyio.FramedStream``.

``FramedStream`` frames any anyio byte stream (TCP, TLS, Unix sockets, a process's output):
``await read_frame()``, ``async for frame in ...``, and both directions with ``send()`` and
``query()``, encoded by the rule. A cancel scope that expires in the middle of a reply loses
nothing: the bytes received so far stay in the manager, and the next read returns the whole
frame.

Run it against a SCPI instrument (or ``asyncio_server.py`` beside this file):
``python examples/async_frames.py [PORT] [asyncio|trio]`` (default 5025 on 127.0.0.1, asyncio).
"""

from __future__ import annotations

import sys

import anyio

from streamframer import scpi_response
from streamframer.anyio import FramedStream

__all__ = ["read_waveform"]


async def read_waveform(port: int, points: int) -> tuple[bytes, bytes]:
    """The instrument's identity, and a waveform of ``points`` 8-bit points."""
    stream = await anyio.connect_tcp("127.0.0.1", port)
    async with FramedStream(stream, scpi_response()) as scope:
        identity = await scope.query(b"*IDN?", timeout=5)
        await scope.send(b"WAV:TYPE B")  # a command, sent as a line
        await scope.send(b"WAV:POIN %d" % points)
        waveform = await scope.query(b"WAV:DATA?", timeout=5)  # an IEEE block's data
    return identity, waveform


async def main(port: int) -> None:
    identity, waveform = await read_waveform(port, 1000)
    print(identity.decode())
    print(len(waveform), "waveform bytes")


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5025
    anyio.run(main, port, backend=sys.argv[2] if len(sys.argv) > 2 else "asyncio")
