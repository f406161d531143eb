"""streamframer.anyio: FramedStream on the asyncio and trio backends.

In-memory streams (a memory object stream behind ``BufferedByteReceiveStream``) give exact
control over what arrives when; TCP on loopback covers both directions. Deadlines only expire
while nothing can arrive, so no assertion depends on timing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import anyio
import pytest
from anyio.abc import ByteStream, SocketAttribute, SocketListener
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.memory import MemoryObjectSendStream

from helpers import EVENT_LOOPS, EncodingLine
from streamframer import (
    BufferManager,
    FrameLifecycleError,
    StreamClosed,
    until_delim,
)
from streamframer.anyio import FramedStream

pytestmark = pytest.mark.anyio


@pytest.fixture(
    params=[("asyncio", {"use_uvloop": name == "uvloop"}) for name in EVENT_LOOPS] + ["trio"],
    ids=[*EVENT_LOOPS, "trio"],
)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param


LINE = EncodingLine()


@pytest.fixture
async def memory() -> AsyncIterator[tuple[MemoryObjectSendStream[bytes], FramedStream]]:
    """(chunks, framed): what the test sends into ``chunks`` is what the stream receives."""
    chunks, received = anyio.create_memory_object_stream[bytes](100)
    async with chunks, FramedStream(BufferedByteReceiveStream(received), LINE) as framed:
        yield chunks, framed


@pytest.fixture
async def tcp() -> AsyncIterator[tuple[FramedStream, ByteStream]]:
    """(framed, peer): a FramedStream on a loopback TCP connection, and the server's end."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with listener:
        (one,) = listener.listeners
        port = one.extra(SocketAttribute.local_port)
        client = await anyio.connect_tcp("127.0.0.1", port)
        peer = await cast(SocketListener, one).accept()
    async with FramedStream(client, LINE) as framed, peer:
        yield framed, peer


async def read_until_blocked(framed: FramedStream) -> anyio.CancelScope:
    """``framed.read_frame()``, cancelled once it waits for bytes that are not coming (a
    deadline that expires only then, however slowly the machine runs); returns the scope."""
    async with anyio.create_task_group() as group:

        async def cancel_when_blocked() -> None:
            await anyio.wait_all_tasks_blocked()
            group.cancel_scope.cancel()

        group.start_soon(cancel_when_blocked)
        await framed.read_frame()
    return group.cancel_scope


async def receive_exactly(stream: ByteStream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += await stream.receive(size - len(data))
    return data


# ------------------------------------------------------------------------------------------
# Reading


async def test_frames_across_chunks_and_iteration_ends_at_a_clean_end(
    memory: tuple[MemoryObjectSendStream[bytes], FramedStream],
) -> None:
    chunks, framed = memory
    for piece in (b"on", b"e\ntw", b"o\n", b"thr", b"ee\n"):
        await chunks.send(piece)
    with await framed.read_frame() as frame:
        assert frame == b"one"
    await chunks.aclose()
    assert [bytes(frame) async for frame in framed] == [b"two", b"three"]
    assert len(framed.manager) == 0


async def test_the_end_inside_a_frame_raises_with_the_partial_bytes(
    memory: tuple[MemoryObjectSendStream[bytes], FramedStream],
) -> None:
    chunks, framed = memory
    await chunks.send(b"whole\nhalf a li")
    await chunks.aclose()
    frames = framed.__aiter__()
    assert bytes(await frames.__anext__()) == b"whole"
    with pytest.raises(StreamClosed) as closed:
        await frames.__anext__()
    assert closed.value.partial == b"half a li"


async def test_a_cancel_scope_expiring_mid_frame_loses_nothing(
    memory: tuple[MemoryObjectSendStream[bytes], FramedStream],
) -> None:
    chunks, framed = memory
    await chunks.send(b"#first ha")
    scope = await read_until_blocked(framed)
    assert scope.cancelled_caught
    assert bytes(framed.manager.view()) == b"#first ha"
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0):
            await framed.read_frame()
    await chunks.send(b"lf\nsecond\n")
    with await framed.read_frame() as frame:
        assert frame == b"#first half"
    with await framed.read_frame() as frame:
        assert frame == b"second"


async def test_read_frame_rule_overrides_the_rule_for_one_frame(
    memory: tuple[MemoryObjectSendStream[bytes], FramedStream],
) -> None:
    chunks, framed = memory
    await chunks.send(b"HDR blockdata\n")
    with await framed.read_frame(until_delim(b" ")) as header:
        assert header == b"HDR"
    with await framed.read_frame() as line:
        assert line == b"blockdata"


async def test_a_frame_held_and_the_loop_body_consuming_its_own(
    memory: tuple[MemoryObjectSendStream[bytes], FramedStream],
) -> None:
    chunks, framed = memory
    await chunks.send(b"a\nb\nc\n")
    await chunks.aclose()
    held = await framed.read_frame()
    with pytest.raises(FrameLifecycleError):
        await framed.read_frame()
    held.consume()
    seen = []
    async for frame in framed:
        seen.append(bytes(frame))
        frame.consume()  # the loop leaves a consumed frame alone
    assert seen == [b"b", b"c"]


# ------------------------------------------------------------------------------------------
# Both directions


async def test_send_encodes_with_the_rule(tcp: tuple[FramedStream, ByteStream]) -> None:
    framed, peer = tcp
    await framed.send(b"*IDN?")
    await framed.send(b"VOLT 5", prefix=b":")
    with pytest.raises(ValueError, match="holds the delimiter"):
        await framed.send(b"two\nlines")
    framed.rule = lambda buffer, scan: LINE(buffer, scan)  # a rule without encode()
    with pytest.raises(TypeError, match=r"has no encode\(\)"):
        await framed.send(b"x")
    await framed.stream.send(b"end\n")  # type: ignore[attr-defined]
    assert await receive_exactly(peer, 18) == b"*IDN?\n:VOLT 5\nend\n"


async def test_query_and_a_query_timeout_that_loses_nothing(
    tcp: tuple[FramedStream, ByteStream],
) -> None:
    framed, peer = tcp
    await peer.send(b"ACME,7\n")
    assert await framed.query(b"*IDN?", timeout=5) == b"ACME,7"
    await peer.send(b"+4.99")
    with pytest.raises(TimeoutError, match=r"no reply within 0.01 s \(5 bytes buffered\)"):
        await framed.query(b"MEAS?", timeout=0.01)
    await peer.send(b"7\n")
    with await framed.read_frame() as frame:
        assert frame == b"+4.997"
    await peer.send(b"next\n")
    assert await framed.query(b"NEXT?") == b"next"
    assert await receive_exactly(peer, 18) == b"*IDN?\nMEAS?\nNEXT?\n"
    assert len(framed.manager) == 0


async def test_a_receive_only_stream_cannot_send(
    memory: tuple[MemoryObjectSendStream[bytes], FramedStream],
) -> None:
    _, framed = memory
    with pytest.raises(TypeError, match=r"BufferedByteReceiveStream only receives"):
        await framed.send(b"x")


async def test_attributes_repr_close_and_bad_arguments() -> None:
    chunks, received = anyio.create_memory_object_stream[bytes](10)
    stream = BufferedByteReceiveStream(received)
    manager = BufferManager(max_size=64)
    async with FramedStream(stream, LINE, manager=manager) as framed:
        assert (framed.stream, framed.rule, framed.manager) == (stream, LINE, manager)
        await chunks.send(b"abc")
        await read_until_blocked(framed)
        text = repr(framed)
        assert text.startswith("<FramedStream <helpers.EncodingLine object")
        assert "BufferedByteReceiveStream" in text
        assert text.endswith(", 3 bytes buffered>")
    with pytest.raises(anyio.ClosedResourceError):  # the async with closed the stream
        await stream.receive()
    await chunks.aclose()
    with pytest.raises(TypeError, match="stream must be an anyio ByteReceiveStream, not bytes"):
        FramedStream(b"", LINE)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="rule must be callable"):
        FramedStream(stream, b"\n")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="manager must be a BufferManager"):
        FramedStream(stream, LINE, manager=64)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# encoder=, reset_input_buffer(), arguments checked at the call, timeouts that explain


async def test_an_encoder_sends_cr_while_the_rule_reads_cr_lf(
    tcp: tuple[FramedStream, ByteStream],
) -> None:
    framed, peer = tcp
    framed.rule = until_delim(b"\r\n")
    framed.encoder = until_delim(b"\r")
    await peer.send(b"re: A\r\n")
    assert await framed.query(b"A", timeout=5) == b"re: A"
    assert await receive_exactly(peer, 2) == b"A\r"
    sending, receiving = anyio.create_memory_object_stream[bytes](1)
    async with sending, receiving:
        stream = BufferedByteReceiveStream(receiving)
        encoder = until_delim(b"\r")
        assert FramedStream(stream, LINE, encoder=encoder).encoder is encoder
        with pytest.raises(TypeError, match=r"encoder=until_delim is the function.*until_delim\("):
            FramedStream(stream, LINE, encoder=until_delim)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"rule=until_delim is the function.*until_delim\("):
            FramedStream(stream, until_delim)  # type: ignore[arg-type]


async def test_reset_input_buffer_drops_what_is_buffered(
    memory: tuple[MemoryObjectSendStream[bytes], FramedStream],
) -> None:
    chunks, framed = memory
    await chunks.send(b"stale\nhalf a l")
    with await framed.read_frame() as frame:
        assert frame == b"stale"
    assert framed.reset_input_buffer() == 8
    await chunks.send(b"fresh\n")
    with await framed.read_frame() as frame:
        assert frame == b"fresh"


@pytest.mark.parametrize(("timeout", "error"), [(-1, ValueError), ("2", TypeError)])
async def test_a_bad_query_timeout_is_refused_before_sending(
    tcp: tuple[FramedStream, ByteStream], timeout: object, error: type[Exception]
) -> None:
    framed, peer = tcp
    with pytest.raises(error, match="timeout must be None or"):
        await framed.query(b"X?", timeout=timeout)  # type: ignore[arg-type]
    await framed.send(b"next")
    assert await receive_exactly(peer, 5) == b"next\n"  # nothing went out before it


async def test_a_query_with_no_reply_names_the_ending_sent(
    tcp: tuple[FramedStream, ByteStream],
) -> None:
    framed, _ = tcp
    with pytest.raises(TimeoutError) as raised:
        await framed.query(b"VERSION", timeout=0.01)
    message = str(raised.value)
    assert message.startswith("no reply within 0.01 s (0 bytes buffered); it was sent ending")
    assert "encoder=until_delim(b'\\r')" in message


async def test_batches_take_every_buffered_frame_at_once_and_lose_nothing_to_a_cancel(
    memory: tuple[MemoryObjectSendStream[bytes], FramedStream],
) -> None:
    chunks, framed = memory
    await chunks.send(b"one\ntwo\nthr")
    batches = framed.batches()
    assert await batches.__anext__() == [b"one", b"two"]
    with anyio.move_on_after(0.01) as scope:  # nothing complete buffered: it waits
        await batches.__anext__()
    assert scope.cancelled_caught
    await chunks.send(b"ee\nfour\nfi")
    await chunks.aclose()
    batches = framed.batches()
    assert await batches.__anext__() == [b"three", b"four"]
    with pytest.raises(StreamClosed) as closed:
        await batches.__anext__()
    assert closed.value.partial == b"fi"


async def test_async_for_leaves_its_last_frame_to_the_next_loop(
    memory: tuple[MemoryObjectSendStream[bytes], FramedStream],
) -> None:
    chunks, framed = memory
    await chunks.send(b"first\nsecond\n")
    await chunks.aclose()
    async for frame in framed:
        assert frame == b"first"
        break
    assert [bytes(frame) async for frame in framed] == [b"second"]
