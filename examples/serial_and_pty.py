"""Frames from serial ports, pseudo-terminals and pipes: anything with ``readinto``.

``read_frame``, ``read_with_rule`` and ``iter_frames`` accept file-like sources as they accept
sockets. A serial port's own read timeout raises ``TimeoutError`` with nothing lost; a pipe or
pty whose other end closed raises ``StreamClosed``. With asyncio, ``open_framed_device`` reads
and writes a device: ``await writer.query(...)`` sends a command and returns the reply.

Run: ``python examples/serial_and_pty.py`` (POSIX; the pyserial part needs ``pip install
pyserial``). A device emulator writes to the controlling end of a pseudo-terminal, the program
reads the other end, as it would read ``/dev/ttyUSB0``.
"""

from __future__ import annotations

import asyncio
import os
import tty

from streamframer import BufferManager, iter_payloads, read_frame, until_delim
from streamframer.aio import open_framed_device

LINE = until_delim(b"\r\n")


def pty_device() -> list[bytes]:
    """Read lines a device emulator writes in pieces; the device hangs up at the end."""
    controller, device_end = os.openpty()
    tty.setraw(device_end)  # raw mode: no echo, no line editing, bytes pass unchanged
    with os.fdopen(device_end, "rb", buffering=0) as port:
        mgr = BufferManager()
        os.write(controller, b"$GPGGA,1234")
        os.write(controller, b"56.00,4807.038,N*47\r\n$GPVTG,054.7,T*2")
        with read_frame(port, mgr, LINE, timeout=5) as frame:
            first = bytes(frame)
        os.write(controller, b"5\r\n")
        with read_frame(port, mgr, LINE, timeout=5) as frame:
            second = bytes(frame)
        os.close(controller)  # the device goes away: the stream ends
        rest = list(iter_payloads(port, mgr, LINE))
    return [first, second, *rest]


async def pty_both_ways() -> bytes:
    """asyncio on the device end, both directions; an emulator on the controlling end answers
    every command line."""
    controller, device_end = os.openpty()
    tty.setraw(device_end)

    def answer() -> None:
        if os.read(controller, 100).endswith(b"\r\n"):
            os.write(controller, b"ACME,Model 7\r\n")

    loop = asyncio.get_running_loop()
    loop.add_reader(controller, answer)
    _, writer = await open_framed_device(device_end, LINE)  # it owns device_end now
    try:
        return await writer.query(b"*IDN?", timeout=5)  # sends b"*IDN?\r\n"
    finally:
        loop.remove_reader(controller)  # before the device end closes: EIO from then on
        writer.close()
        await writer.wait_closed()
        os.close(controller)


def pyserial_loopback() -> list[bytes]:
    """pyserial's ``loop://`` port echoes what is written; its 0.1 s timeout bounds each read."""
    import serial  # optional: pip install pyserial

    port = serial.serial_for_url("loop://", timeout=0.1)
    mgr = BufferManager()
    replies = []
    port.write(b"*IDN?\r\nMEAS:")
    with read_frame(port, mgr, LINE) as frame:
        replies.append(bytes(frame))
    try:
        read_frame(port, mgr, LINE)  # b"MEAS:" has no end yet
    except TimeoutError:
        print("serial: timed out; still buffered:", bytes(mgr.view()))  # nothing lost
    port.write(b"VOLT?\r\n")
    with read_frame(port, mgr, LINE) as frame:
        replies.append(bytes(frame))
    port.close()
    return replies


def main() -> None:
    for payload in pty_device():
        print("pty:", payload.decode())
    print("asyncio pty:", asyncio.run(pty_both_ways()).decode())
    try:
        replies = pyserial_loopback()
    except ImportError:
        print("serial: pyserial is not installed")
        return
    for payload in replies:
        print("serial:", payload.decode())


if __name__ == "__main__":
    main()
