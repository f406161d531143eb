"""streamframer.aio: ``async for frame in reader`` and ``async for batch in reader.batches()``,
the fast ways, keep what ``read_frame()`` guarantees: nothing lost to a cancellation, reading
paused for a slow consumer, a loop left early leaves nothing wedged."""

from __future__ import annotations

import asyncio

import pytest

from streamframer import FrameLifecycleError, StreamClosed
from streamframer.aio import FramedProtocol, FramedReader
from test_aio import LINE, close, framed_pair, pump_until, run

pytestmark = pytest.mark.usefixtures("event_loop_name")


def test_batches_take_every_complete_frame_buffered_at_once() -> None:
    async def main() -> list[list[bytes]]:
        reader, writer, peer = await framed_pair()
        peer.send(b"a\nbb\nccc\nd")
        await pump_until(lambda: len(reader.manager) == 10)
        batches = reader.batches()
        got = [await batches.__anext__()]
        peer.send(b"d\n")
        got.append(await batches.__anext__())
        peer.sock.close()
        got += [batch async for batch in batches]  # ends cleanly: closed between frames
        await close(writer, peer)
        return got

    assert run(main()) == [[b"a", b"bb", b"ccc"], [b"dd"]]


def test_batches_end_inside_a_frame_raises_with_the_partial_bytes() -> None:
    async def main() -> None:
        reader, writer, peer = await framed_pair()
        peer.send(b"one\ntw")
        peer.sock.close()
        batches = reader.batches()
        assert await batches.__anext__() == [b"one"]
        with pytest.raises(StreamClosed) as info:
            await batches.__anext__()
        assert info.value.partial == b"tw"
        await close(writer, peer)

    run(main())


@pytest.mark.parametrize("way", ["frames", "batches"])
def test_cancelling_an_iteration_mid_frame_loses_nothing(way: str) -> None:
    async def take_one(reader: FramedReader) -> bytes:
        if way == "frames":
            async for frame in reader:
                return bytes(frame)
        else:
            async for batch in reader.batches():
                return b"|".join(batch)
        raise AssertionError("the stream ended")

    async def main() -> None:
        reader, writer, peer = await framed_pair()
        task = asyncio.ensure_future(take_one(reader))
        peer.send(b"MEAS:VOLT")
        await pump_until(lambda: len(reader.manager) == 9)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        peer.send(b"? 1.25\nnext\n")
        assert await take_one(reader) == (
            b"MEAS:VOLT? 1.25" if way == "frames" else b"MEAS:VOLT? 1.25|next"
        )
        await close(writer, peer)

    run(main())


def test_a_loop_left_early_leaves_its_frame_to_the_next_loop() -> None:
    async def main() -> list[bytes]:
        reader, writer, peer = await framed_pair()
        peer.send(b"first\nsecond\nthird\n")
        got = []
        async for frame in reader:
            got.append(bytes(frame))
            break  # the frame is still outstanding ...
        with pytest.raises(FrameLifecycleError, match="outstanding"):
            await reader.read_frame()
        async for frame in reader:  # ... and the next loop consumes it first
            got.append(bytes(frame))
            frame.consume()  # the body may consume; the loop then leaves it alone
            if len(got) == 3:
                break
        peer.sock.close()
        assert [frame async for frame in reader] == []
        await close(writer, peer)
        return got

    assert run(main()) == [b"first", b"second", b"third"]


def test_a_slow_batch_consumer_pauses_reading_and_takes_everything_after() -> None:
    lines = [b"%05d " % i + b"x" * 94 for i in range(5_000)]  # 500 KB, far beyond read_ahead

    async def main() -> None:
        reader, writer, peer = await framed_pair(lambda: FramedProtocol(LINE, read_ahead=4096))
        peer.sock.setblocking(False)
        loop = asyncio.get_running_loop()
        sending = asyncio.ensure_future(loop.sock_sendall(peer.sock, b"\n".join(lines) + b"\n"))
        await pump_until(lambda: not writer.transport.is_reading())  # nobody reads: paused
        assert not sending.done()
        got: list[bytes] = []
        async for batch in reader.batches():
            got += batch
            if len(got) == len(lines):
                break
        await sending
        assert got == lines
        assert writer.transport.is_reading()
        await close(writer, peer)

    run(main())
