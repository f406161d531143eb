"""streamframer.aio in both directions: FramedWriter.send and query, and open_framed_device over
a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tty
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Callable, NoReturn, TypeVar

import pytest

from helpers import EncodingLine
from streamframer import StreamClosed
from streamframer.aio import FramedProtocol, FramedReader, FramedWriter, open_framed_device

pytestmark = pytest.mark.usefixtures("event_loop_name")
T = TypeVar("T")
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


LINE = EncodingLine()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a test coroutine; a bug that hangs fails after 10 s instead."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, 10)

    return asyncio.run(bounded())


async def framed_pair() -> tuple[FramedReader, FramedWriter, socket.socket]:
    """(reader, writer, peer): a framed socketpair end; the test reads and writes ``peer``."""
    ours, peer = socket.socketpair()
    peer.settimeout(5)
    _, protocol = await asyncio.get_running_loop().create_connection(
        lambda: FramedProtocol(LINE), sock=ours
    )
    return protocol.reader, protocol.writer, peer


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


async def close(writer: FramedWriter, peer: socket.socket) -> None:
    writer.close()
    await writer.wait_closed()
    peer.close()


def test_send_encodes_with_the_readers_rule() -> None:
    async def main() -> bytes:
        reader, writer, peer = await framed_pair()
        writer.send(b"*IDN?")
        writer.send(b"VOLT 5", prefix=b":")
        await writer.drain()
        with pytest.raises(ValueError, match="holds the delimiter"):
            writer.send(b"two\nlines")
        reader.rule = lambda buffer, scan: LINE(buffer, scan)  # a rule without encode()
        with pytest.raises(TypeError, match=r"has no encode\(\)"):
            writer.send(b"x")
        writer.write(b"end\n")
        sent = recv_exactly(peer, 18)
        await close(writer, peer)
        return sent

    assert run(main()) == b"*IDN?\n:VOLT 5\nend\n"  # nothing of the refused payloads


def test_query_returns_the_reply_copied_and_consumed() -> None:
    async def main() -> None:
        reader, writer, peer = await framed_pair()
        peer.sendall(b"ACME,7\nunsol")
        assert await writer.query(b"*IDN?", timeout=5) == b"ACME,7"
        assert recv_exactly(peer, 6) == b"*IDN?\n"
        assert len(reader.manager) == 5  # b"unsol" waits; nothing is outstanding
        peer.sendall(b"icited\n")
        with await reader.read_frame() as frame:
            assert frame == b"unsolicited"
        await close(writer, peer)

    run(main())


def test_a_query_that_times_out_loses_nothing_the_late_reply_is_the_next_frame() -> None:
    async def main() -> None:
        reader, writer, peer = await framed_pair()
        peer.sendall(b"+4.99")
        # The builtin TimeoutError on every version (asyncio's is another class before 3.11).
        with pytest.raises(TimeoutError, match=r"no reply within 0.01 s \(5 bytes buffered\)"):
            await writer.query(b"MEAS?", timeout=0.01)
        peer.sendall(b"7\n")
        with await reader.read_frame() as frame:
            assert frame == b"+4.997"
        with pytest.raises(TimeoutError):
            await writer.query(b"A?", timeout=0)
        peer.sendall(b"answer to A\nanswer to B\n")
        assert await writer.query(b"B?", timeout=5) == b"answer to A"
        assert await writer.query(b"C?") == b"answer to B"
        assert recv_exactly(peer, 15) == b"MEAS?\nA?\nB?\nC?\n"
        await close(writer, peer)

    run(main())


# ------------------------------------------------------------------------------------------
# A device: a pseudo-terminal, both directions


class Emulator:
    """A device on a pty's controlling end, run by the loop: answers each line with
    ``answer(line)``, and counts the bytes it received."""

    def __init__(self, controller: int, answer: Callable[[bytes], bytes]) -> None:
        self.controller = controller
        self.answer = answer
        self.received = bytearray()
        self.pending = b""
        asyncio.get_running_loop().add_reader(controller, self._readable)

    def _readable(self) -> None:
        data = os.read(self.controller, 65536)
        self.received += data
        self.pending += data
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            os.write(self.controller, self.answer(line))

    def hang_up(self) -> None:
        asyncio.get_running_loop().remove_reader(self.controller)
        os.close(self.controller)


def size_reply(line: bytes) -> bytes:
    return b"%d\n" % len(line)


def open_pty() -> tuple[int, int]:
    controller, device = os.openpty()
    tty.setraw(device)  # raw: no echo, no line editing, bytes pass unchanged
    return controller, device


@posix_only
def test_a_pty_read_and_written_through_one_reader_and_writer() -> None:
    async def main() -> None:
        controller, device = open_pty()
        emulator = Emulator(controller, size_reply)
        reader, writer = await open_framed_device(device, LINE)
        assert await writer.query(b"*IDN?", timeout=5) == b"5"
        big = b"x" * 200_000  # far more than a pty holds: the write transport drains it
        writer.send(big)
        await writer.drain()
        with await reader.read_frame() as frame:
            assert frame == b"200000"
        assert await writer.query(b"", timeout=5) == b"0"
        assert emulator.received == b"*IDN?\n" + big + b"\n\n"
        emulator.hang_up()  # the device goes away: its stream ends (EIO), cleanly
        assert [bytes(frame) async for frame in reader] == []
        writer.close()
        await writer.wait_closed()
        assert writer.is_closing()

    run(main())


@posix_only
def test_a_device_opened_by_path_and_the_reply_to_a_cancelled_query() -> None:
    async def main() -> None:
        controller, device = open_pty()
        replies: list[bytes] = []
        emulator = Emulator(controller, lambda line: replies.pop(0) if replies else b"")
        reader, writer = await open_framed_device(Path(os.ttyname(device)), LINE)
        os.close(device)  # the path opened a descriptor of its own
        replies.append(b"+1.2")  # half a reply, then nothing
        with pytest.raises(TimeoutError):
            await writer.query(b"MEAS?", timeout=0.01)
        os.write(controller, b"5\n")
        with await reader.read_frame() as frame:
            assert frame == b"+1.25"
        assert not writer.can_write_eof()
        emulator.hang_up()
        writer.close()
        await writer.wait_closed()

    run(main())


@posix_only
def test_a_device_that_went_away_fails_the_writer_too() -> None:
    async def main() -> None:
        controller, device = open_pty()
        reader, writer = await open_framed_device(device, LINE)
        os.close(controller)
        with pytest.raises(StreamClosed):
            await reader.read_frame()
        writer.send(b"anyone?")  # EIO on the device: the transport closes
        with pytest.raises(ConnectionResetError):
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    run(main())


@posix_only
def test_a_devices_transport_is_its_read_and_write_pipes_as_one() -> None:
    async def main() -> None:
        controller, device = open_pty()
        emulator = Emulator(controller, size_reply)
        reader, writer = await open_framed_device(device, LINE)
        transport = writer.transport
        transport.set_write_buffer_limits(high=8, low=4)
        assert transport.get_write_buffer_limits() == (4, 8)
        assert transport.get_write_buffer_size() == 0
        transport.writelines([b"ab", b"c\n"])
        with await reader.read_frame() as frame:
            assert frame == b"3"
        assert emulator.received == b"abc\n"
        transport.pause_reading()
        assert not transport.is_reading()
        transport.resume_reading()
        assert transport.is_reading()
        assert transport.get_extra_info("pipe").fileno() == device  # the reading side's
        assert transport.get_extra_info("no such thing", "default") == "default"
        transport.abort()
        assert transport.is_closing()
        emulator.hang_up()
        await writer.wait_closed()

    run(main())


@posix_only
@pytest.mark.parametrize("failing", ["connect_write_pipe", "connect_read_pipe"])
def test_a_device_whose_pipe_cannot_be_connected_is_closed(
    failing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise OSError("no pipe for you")

    async def main() -> None:
        controller, device = open_pty()
        monkeypatch.setattr(asyncio.get_running_loop(), failing, refuse)
        with pytest.raises(OSError, match="no pipe for you"):
            await open_framed_device(device, LINE)
        await asyncio.sleep(0)  # a write transport made already closes on the loop
        with pytest.raises(OSError, match="Bad file descriptor"):  # the connection owned it
            os.fstat(device)
        os.close(controller)

    run(main())


def test_only_a_character_device_is_opened(tmp_path: Path) -> None:
    async def main() -> None:
        plain = tmp_path / "capture.bin"
        plain.write_bytes(b"data\n")
        with pytest.raises(ValueError, match="is not a character device"):
            await open_framed_device(plain, LINE)
        read_fd, write_fd = os.pipe()
        with pytest.raises(ValueError, match=f"^{read_fd} is not a character device"):
            await open_framed_device(read_fd, LINE)
        os.fstat(read_fd)  # a descriptor the caller gave stays the caller's when refused
        os.close(read_fd)
        os.close(write_fd)
        with pytest.raises(TypeError, match="rule must be callable"):
            await open_framed_device(plain, b"\n")  # type: ignore[arg-type]
        with pytest.raises(FileNotFoundError):
            await open_framed_device(tmp_path / "missing", LINE)

    run(main())
