"""streamframer.aio: the asyncio protocol, reader, writer, client and server helpers."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import subprocess
import sys
import tty
from collections.abc import Awaitable, Coroutine
from typing import Any, Callable, TypeVar

import pytest

from streamframer import (
    BufferManager,
    FrameDiscarded,
    FrameLifecycleError,
    StreamClosed,
    scpi_response,
    until_delim,
    until_eot,
)
from streamframer.aio import (
    FramedProtocol,
    FramedReader,
    FramedWriter,
    open_framed_connection,
    start_framed_server,
)

LINE = until_delim(b"\n")
pytestmark = pytest.mark.usefixtures("event_loop_name")
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a test coroutine; a bug that hangs fails after 10 s instead."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, 10)

    return asyncio.run(bounded())


async def pump_until(condition: Callable[[], bool], iterations: int = 200) -> None:
    """Let the loop run until ``condition()`` holds; loop passes are counted, not timed."""
    for _ in range(iterations):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"condition not reached within {iterations} loop passes")


class Peer:
    """The far end of a framed connection: a plain socket the test writes to directly.

    An AF_UNIX socket pair: bytes sent are in the framed side's receive queue when send()
    returns, so the loop sees them on its next pass.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            assert chunk, f"peer closed after {data!r}"
            data += chunk
        return data


async def framed_pair(
    factory: Callable[[], FramedProtocol] = lambda: FramedProtocol(LINE),
) -> tuple[FramedReader, FramedWriter, Peer]:
    ours, theirs = socket.socketpair()
    theirs.settimeout(5)
    _, protocol = await asyncio.get_running_loop().create_connection(factory, sock=ours)
    return protocol.reader, protocol.writer, Peer(theirs)


async def close(writer: FramedWriter, peer: Peer) -> None:
    writer.close()
    await writer.wait_closed()
    peer.sock.close()


# ------------------------------------------------------------------------------------------
# Reading frames


def test_read_frame_leaves_consuming_to_the_caller() -> None:
    async def main() -> None:
        reader, writer, peer = await framed_pair()
        peer.send(b"*IDN?\nMEAS?\n")
        frame = await reader.read_frame()
        assert frame == b"*IDN?"
        with pytest.raises(FrameLifecycleError, match="outstanding"):
            await reader.read_frame()
        frame.consume()
        with await reader.read_frame() as frame:
            assert frame == b"MEAS?"
        await close(writer, peer)

    run(main())


def test_async_for_consumes_each_frame_and_ends_at_a_clean_close() -> None:
    async def main() -> list[bytes]:
        reader, writer, peer = await framed_pair()
        for piece in (b"al", b"pha\nbe", b"ta\n", b"gamma", b"\n"):
            peer.send(piece)
            await asyncio.sleep(0)
        peer.sock.close()
        got = [bytes(frame) async for frame in reader]
        writer.close()
        return got

    assert run(main()) == [b"alpha", b"beta", b"gamma"]


def test_end_of_stream_inside_a_frame_raises_with_the_partial_bytes() -> None:
    async def main() -> None:
        reader, writer, peer = await framed_pair()
        peer.send(b"done\nhal")
        peer.sock.close()
        frames = []

        async def collect() -> None:
            async for frame in reader:
                frames.append(bytes(frame))

        with pytest.raises(StreamClosed) as caught:
            await collect()
        assert frames == [b"done"]
        assert caught.value.partial == b"hal"
        writer.close()

    run(main())


def test_async_for_leaves_alone_a_frame_the_loop_body_consumed() -> None:
    async def main() -> list[bytes]:
        reader, writer, peer = await framed_pair()
        peer.send(b"one\ntwo\n")
        peer.sock.close()
        got = []
        async for frame in reader:
            with frame:
                got.append(bytes(frame))
        assert repr(reader).startswith("<FramedReader rule=")
        writer.close()
        return got

    assert run(main()) == [b"one", b"two"]


def test_writer_is_a_thin_layer_over_the_transport() -> None:
    async def main() -> None:
        _, writer, peer = await framed_pair()
        assert writer.can_write_eof()
        assert writer.get_extra_info("socket") is not None
        assert writer.get_extra_info("no such thing", 7) == 7
        writer.writelines([b"a", b"b\n"])
        await writer.drain()
        assert peer.recv_exactly(3) == b"ab\n"
        assert not writer.is_closing()
        writer.close()
        assert writer.is_closing()
        with pytest.raises(ConnectionResetError):
            await writer.drain()  # closing: connection_lost runs, then drain reports it
        await writer.wait_closed()
        await writer.wait_closed()  # already closed: returns at once
        peer.sock.close()

    run(main())


def test_writer_before_the_connection_is_made() -> None:
    with pytest.raises(RuntimeError, match="not made yet"):
        FramedProtocol(LINE).writer.write(b"x")


def test_read_frame_rule_overrides_the_default_for_one_frame() -> None:
    async def main() -> None:
        reader, writer, peer = await framed_pair()
        peer.send(b"#header\nbody\x04tail\n")
        with await reader.read_frame() as frame:
            assert frame == b"#header"
        with await reader.read_frame(until_eot(4)) as frame:
            assert frame == b"body"
        with await reader.read_frame() as frame:
            assert frame == b"tail"
        await close(writer, peer)

    run(main())


def test_scpi_lines_and_binary_blocks_arriving_byte_by_byte() -> None:
    waveform = bytes(range(256)) * 4  # newlines and every other byte value inside
    block = b"#41024" + waveform + b"\n"

    async def main() -> list[bytes]:
        reader, writer, peer = await framed_pair(lambda: FramedProtocol(scpi_response()))
        stream = b"ACME,Model 7\n" + block + b"+1.25E+00\n"
        task = asyncio.ensure_future(collect(reader, 3))
        for index in range(len(stream)):
            peer.send(stream[index : index + 1])
            await asyncio.sleep(0)
        got = await task
        await close(writer, peer)
        return got

    async def collect(reader: FramedReader, count: int) -> list[bytes]:
        got = []
        for _ in range(count):
            with await reader.read_frame() as frame:
                got.append(bytes(frame))
        return got

    assert run(main()) == [b"ACME,Model 7", waveform, b"+1.25E+00"]


def test_a_second_task_waiting_at_the_same_time_is_refused() -> None:
    async def main() -> None:
        reader, writer, peer = await framed_pair()
        first = asyncio.ensure_future(reader.read_frame())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="another task"):
            await reader.read_frame()
        peer.send(b"one\n")
        with await first as frame:
            assert frame == b"one"
        await close(writer, peer)

    run(main())


# ------------------------------------------------------------------------------------------
# Cancellation


def test_cancelling_a_read_mid_frame_loses_nothing() -> None:
    async def main() -> None:
        reader, writer, peer = await framed_pair()
        task = asyncio.ensure_future(reader.read_frame())
        peer.send(b"MEAS:VOLT")
        await pump_until(lambda: len(reader.manager) == 9)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        peer.send(b"? 1.25\n")
        with await reader.read_frame() as frame:
            assert frame == b"MEAS:VOLT? 1.25"
        await close(writer, peer)

    run(main())


def test_wait_for_timeouts_mid_frame_then_the_complete_frame() -> None:
    # The failure asyncssh users met: a timed-out readline() dropped what it had read.
    async def main() -> None:
        reader, writer, peer = await framed_pair()
        for piece in (b"long ", b"line ", b"in parts"):
            peer.send(piece)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(reader.read_frame(), 0.01)
        peer.send(b"\n")
        with await asyncio.wait_for(reader.read_frame(), 5) as frame:
            assert frame == b"long line in parts"
        await close(writer, peer)

    run(main())


# ------------------------------------------------------------------------------------------
# Backpressure and frames held across awaits


class RecordingProtocol(FramedProtocol):
    """Records the most bytes ever buffered after a read."""

    __slots__ = ("peak",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.peak = 0

    def buffer_updated(self, nbytes: int) -> None:
        super().buffer_updated(nbytes)
        self.peak = max(self.peak, len(self._mgr))


def test_reading_pauses_while_bytes_back_up_and_resumes_as_frames_are_taken() -> None:
    read_ahead = 4096
    read_size = 4096
    lines = [b"%05d " % i + b"x" * 94 for i in range(10_000)]  # 1 MB, far beyond any buffer

    async def main() -> None:
        protocol = RecordingProtocol(
            LINE, BufferManager(read_size=read_size), read_ahead=read_ahead
        )
        reader, writer, peer = await framed_pair(lambda: protocol)
        peer.sock.setblocking(False)
        loop = asyncio.get_running_loop()
        sending = asyncio.ensure_future(loop.sock_sendall(peer.sock, b"\n".join(lines) + b"\n"))
        await pump_until(lambda: not writer.transport.is_reading())
        assert not sending.done()  # the pause reached the sender
        got = []
        async for frame in reader:
            got.append(bytes(frame))
            if len(got) == len(lines):
                break
        await sending
        assert got == lines
        # One read lands while the task waits; on a loop that reads on before the task runs
        # (uvloop), one more, and then reading pauses.
        assert protocol.peak <= read_ahead + 2 * read_size
        assert writer.transport.is_reading()
        await close(writer, peer)

    run(main())


def test_a_frame_larger_than_read_ahead_still_arrives() -> None:
    async def main() -> None:
        reader, writer, peer = await framed_pair(lambda: FramedProtocol(LINE, read_ahead=100))
        payload = bytes(range(256)).replace(b"\n", b"") * 400  # 100 KB
        peer.send(payload[:50_000])
        task = asyncio.ensure_future(reader.read_frame())
        peer.send(payload[50_000:] + b"\n")
        with await task as frame:
            assert frame == payload
        await close(writer, peer)

    run(main())


def test_bytes_arriving_while_a_frame_is_held_wait_in_order() -> None:
    async def main() -> None:
        reader, writer, peer = await framed_pair()
        peer.send(b"first\n")
        frame = await reader.read_frame()
        peer.send(b"second\nthi")
        await pump_until(lambda: len(reader.manager) == len(b"first\nsecond\nthi"))
        assert frame == b"first"  # unchanged while the loop took more bytes
        frame.consume()
        peer.send(b"rd\n")
        with await reader.read_frame() as frame:
            assert frame == b"second"
        with await reader.read_frame() as frame:
            assert frame == b"third"
        await close(writer, peer)

    run(main())


def test_a_full_buffer_pauses_reading_until_the_oversized_frame_is_dealt_with() -> None:
    async def main() -> None:
        def factory() -> FramedProtocol:
            return FramedProtocol(LINE, BufferManager(max_size=64, on_overflow="discard"))

        reader, writer, peer = await framed_pair(factory)
        peer.send(b"y" * 1000 + b"\nok\n")
        await pump_until(lambda: not writer.transport.is_reading())
        assert len(reader.manager) == 64  # nothing more fits, nothing more was read
        with pytest.raises(FrameDiscarded):  # reading on to find where the line ends
            await reader.read_frame()
        with await reader.read_frame() as frame:
            assert frame == b"ok"
        assert writer.transport.is_reading()
        await close(writer, peer)

    run(main())


# ------------------------------------------------------------------------------------------
# The protocol against a scripted transport (what TLS transports do)


class ScriptedTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.reading = True
        self.closed = False

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def deliver(protocol: FramedProtocol, data: bytes) -> None:
    while data:
        buffer = protocol.get_buffer(-1)
        size = min(len(buffer), len(data))
        buffer[:size] = data[:size]
        protocol.buffer_updated(size)
        data = data[size:]


def test_an_unfilled_reservation_is_never_framed() -> None:
    # TLS transports call get_buffer() and, when a record is incomplete, no buffer_updated().
    # The reserved bytes are zeros: a rule looking for b"\0" must not see them.
    protocol = FramedProtocol(until_eot(0))
    protocol.connection_made(ScriptedTransport())
    deliver(protocol, b"abc")
    protocol.get_buffer(-1)  # abandoned
    protocol.get_buffer(-1)  # and again
    assert len(protocol.reader.manager) == 3

    async def read() -> Awaitable[bytes] | bytes:
        protocol.get_buffer(-1)  # abandoned once more, just before the task reads
        waiting = asyncio.ensure_future(protocol.reader.read_frame())
        await asyncio.sleep(0)
        deliver(protocol, b"d\0")
        with await waiting as frame:
            return bytes(frame)

    assert run(read()) == b"abcd"


@pytest.mark.parametrize("spare", [True, False])
def test_a_view_held_while_bytes_arrive_keeps_the_connection(spare: bool) -> None:
    """A task holding manager.view() across an await: bytes arriving then wait (in the spare
    capacity, or behind the view), the connection stays up, and nothing is lost."""
    protocol = FramedProtocol(LINE)
    transport = ScriptedTransport()
    protocol.connection_made(transport)
    deliver(protocol, b"ab")
    mgr = protocol.reader.manager
    if not spare:
        mgr.shrink()  # no room left: the next bytes cannot land in the buffer as it is
    view = mgr.view()
    deliver(protocol, b"c\nd")  # used to fail buffer_updated(): the loop closed the transport
    deliver(protocol, b"\n")
    assert not transport.closed
    assert bytes(view) == b"ab"
    view.release()

    async def read_two() -> list[bytes]:
        frames = []
        for _ in range(2):
            with await protocol.reader.read_frame() as frame:
                frames.append(bytes(frame))
        return frames

    assert run(read_two()) == [b"abc", b"d"]


def test_connection_lost_with_an_error_raises_it_after_the_buffered_frames() -> None:
    protocol = FramedProtocol(LINE)
    protocol.connection_made(ScriptedTransport())
    deliver(protocol, b"kept\npart")
    protocol.connection_lost(ConnectionResetError("reset by peer"))

    async def main() -> None:
        with await protocol.reader.read_frame() as frame:
            assert frame == b"kept"
        with pytest.raises(ConnectionResetError, match="reset by peer"):
            await protocol.reader.read_frame()
        assert len(protocol.reader.manager) == 4
        with pytest.raises(ConnectionResetError):
            await protocol.writer.drain()

    run(main())


def test_eio_from_a_pty_transport_is_the_end_of_the_stream() -> None:
    protocol = FramedProtocol(LINE)
    protocol.connection_made(ScriptedTransport())
    deliver(protocol, b"last\n")
    protocol.connection_lost(OSError(errno.EIO, "Input/output error"))

    async def main() -> None:
        with await protocol.reader.read_frame() as frame:
            assert frame == b"last"
        with pytest.raises(StreamClosed):
            await protocol.reader.read_frame()

    run(main())


def test_eof_keeps_a_plain_transport_open_for_writing() -> None:
    protocol = FramedProtocol(LINE)
    protocol.connection_made(ScriptedTransport())
    assert protocol.eof_received() is True
    assert protocol.reader.manager.at_eof


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="read_ahead must be positive"):
        FramedProtocol(LINE, read_ahead=0)
    with pytest.raises(TypeError, match="read_ahead must be an int"):
        FramedProtocol(LINE, read_ahead=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="rule must be callable"):
        FramedProtocol(b"\n")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="manager must be a BufferManager"):
        FramedProtocol(LINE, bytearray())  # type: ignore[arg-type]

    async def server(handler: Any) -> None:
        await start_framed_server(handler, "127.0.0.1", 0, LINE)

    with pytest.raises(TypeError, match="handler must be callable"):
        run(server(None))


def test_drain_waits_while_writing_is_paused_and_one_cancelled_waiter_spares_the_others() -> None:
    protocol = FramedProtocol(LINE)
    protocol.connection_made(ScriptedTransport())
    writer = protocol.writer

    async def main() -> None:
        await writer.drain()  # not paused: returns at once
        protocol.pause_writing()
        first = asyncio.ensure_future(writer.drain())
        second = asyncio.ensure_future(writer.drain())
        await asyncio.sleep(0)
        assert not first.done()
        first.cancel()
        await asyncio.sleep(0)
        assert not second.done()
        protocol.resume_writing()
        await second
        closed = asyncio.ensure_future(writer.wait_closed())
        await asyncio.sleep(0)
        assert not closed.done()
        protocol.connection_lost(None)
        await closed
        with pytest.raises(ConnectionResetError, match="connection lost"):
            await writer.drain()

    run(main())


# ------------------------------------------------------------------------------------------
# Pipes and pseudo-terminals through loop.connect_read_pipe (bytes, not buffers)


posix_only = pytest.mark.skipif(sys.platform == "win32", reason="read pipes are POSIX")


@posix_only
def test_connect_read_pipe_frames_a_pipe() -> None:
    async def main() -> list[bytes]:
        read_fd, write_fd = os.pipe()
        os.write(write_fd, b"$GPGGA,1\r\n$GPV")
        os.write(write_fd, b"TG,2\r\n")
        os.close(write_fd)
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            transport, protocol = await asyncio.get_running_loop().connect_read_pipe(
                lambda: FramedProtocol(until_delim(b"\r\n")), pipe
            )
            frames = [bytes(frame) async for frame in protocol.reader]
            transport.close()
        return frames

    assert run(main()) == [b"$GPGGA,1", b"$GPVTG,2"]


@posix_only
def test_connect_read_pipe_frames_a_pty_like_a_serial_device() -> None:
    async def main() -> None:
        controller, device_fd = os.openpty()
        tty.setraw(device_fd)
        with os.fdopen(device_fd, "rb", buffering=0) as device:
            transport, protocol = await asyncio.get_running_loop().connect_read_pipe(
                lambda: FramedProtocol(until_delim(b"\r\n")), device
            )
            reader = protocol.reader
            os.write(controller, b"*IDN?\r\nME")
            with await reader.read_frame() as frame:
                assert frame == b"*IDN?"
            os.write(controller, b"AS?\r\n")
            with await reader.read_frame() as frame:
                assert frame == b"MEAS?"
            os.close(controller)  # the device goes away
            with pytest.raises(StreamClosed):  # the end, as in the blocking API
                await reader.read_frame()
            transport.close()

    run(main())


# ------------------------------------------------------------------------------------------
# Client and server over TCP


def test_client_and_server_over_tcp_with_fragmented_lines() -> None:
    async def echo(reader: FramedReader, writer: FramedWriter) -> None:
        async for frame in reader:
            writer.write(b"re: " + bytes(frame) + b"\n")
            await writer.drain()

    async def main() -> list[bytes]:
        server = await start_framed_server(echo, "127.0.0.1", 0, LINE)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await open_framed_connection("127.0.0.1", port, LINE)
            message = b"".join(b"line %d\n" % i for i in range(50))
            for start in range(0, len(message), 7):
                writer.write(message[start : start + 7])
                await writer.drain()
                await asyncio.sleep(0)
            replies = []
            for _ in range(50):
                with await reader.read_frame() as frame:
                    replies.append(bytes(frame))
            writer.write_eof()
            with pytest.raises(StreamClosed):  # the server closes once the handler returns
                await reader.read_frame()
            writer.close()
            await writer.wait_closed()
        return replies

    assert run(main()) == [b"re: line %d" % i for i in range(50)]


def test_a_server_and_query_deliver_every_frame_over_many_reads() -> None:
    """Every frame arrives, on every loop: 3 connections of 500 queries, each reply larger
    than the last so that reads end inside frames; then 20,000 lines in bulk."""

    async def serve(reader: FramedReader, writer: FramedWriter) -> None:
        async for frame in reader:
            n = int(frame.tobytes())
            writer.send(b"%d:" % n + b"x" * (n % 300))

    async def client(port: int) -> list[bytes]:
        reader, writer = await open_framed_connection("127.0.0.1", port, LINE)
        replies = [await writer.query(b"%d" % n) for n in range(500)]
        writer.write(b"".join(b"%d\n" % n for n in range(20_000)))
        await writer.drain()
        writer.write_eof()
        async for frame in reader:
            replies.append(bytes(frame))
        writer.close()
        await writer.wait_closed()
        return replies

    async def main() -> list[list[bytes]]:
        server = await start_framed_server(serve, "127.0.0.1", 0, LINE)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await asyncio.gather(*(client(port) for _ in range(3)))

    expected = [b"%d:" % n + b"x" * (n % 300) for n in (*range(500), *range(20_000))]
    assert run(main()) == [expected] * 3


def test_a_failing_handler_is_reported_and_its_connection_closed() -> None:
    reported: list[dict[str, Any]] = []

    async def failing(reader: FramedReader, writer: FramedWriter) -> None:
        await reader.read_frame()
        raise ValueError("handler bug")

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: reported.append(ctx))
        server = await start_framed_server(failing, "127.0.0.1", 0, LINE)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await open_framed_connection("127.0.0.1", port, LINE)
            writer.write(b"boom\n")
            with pytest.raises(StreamClosed):
                await reader.read_frame()
            writer.close()
            await writer.wait_closed()

    run(main())
    (context,) = reported
    assert isinstance(context["exception"], ValueError)
    assert "framed connection handler" in context["message"]


def test_the_core_imports_neither_asyncio_nor_serial() -> None:
    code = (
        "import sys, streamframer, io\n"
        "list(streamframer.iter_payloads(io.BytesIO(b'a\\n'), streamframer.BufferManager(),"
        " streamframer.until_delim(b'\\n')))\n"
        "print(sorted(m for m in ('asyncio', 'serial') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
