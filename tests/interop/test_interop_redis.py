"""A real redis-server, its replies framed by the custom RESP rule of examples/redis_resp.py."""

from __future__ import annotations

import collections
import random

import pytest
from redis_resp import (
    RESP,
    Push,
    ReplyError,
    decode,
    encode_command,
    pipeline,
    read_replies,
    resp_reply,
)

from streamframer import BufferManager, Framed, FrameTooLarge, FramingError, read_frame

from .replay import CountingBuffer, count_scanning, feed_in_pieces
from .servers import connect

# Values chosen to break any framing that searches for CR LF: the protocol's own bytes inside.
TRICKY = [
    b"line one\r\nline two",
    b"\x00",
    b"",
    b"\r\n",
    b"$5\r\nhello\r\n",
    b"*2\r\n:1\r\n:2\r\n",
    b"ends with cr\r",
    bytes(range(256)),
]


def _big_value(size: int, seed: int) -> bytes:
    """Random bytes with CR LF and NUL among them."""
    return b"\r\n\x00" + random.Random(seed).randbytes(size - 3)


def test_pipelined_commands_one_reply_each(
    redis_port: int, frames_checked: collections.Counter[str]
) -> None:
    big = _big_value(2 * 1024 * 1024 + 17, seed=1)
    commands: list[tuple[bytes | str | int, ...]] = [("PING",)]
    expected: list[object] = ["PONG"]
    for index, value in enumerate(TRICKY):
        commands += [("SET", f"p:key:{index}", value), ("GET", f"p:key:{index}")]
        expected += ["OK", value]
    commands += [("GET", "p:missing"), ("DEL", "p:list"), ("RPUSH", "p:list", *TRICKY)]
    expected += [None, 0, len(TRICKY)]
    commands += [("LRANGE", "p:list", 0, -1), ("LRANGE", "p:list", 1, 3)]
    expected += [TRICKY, TRICKY[1:4]]
    commands += [("LRANGE", "p:nothing", 0, -1), ("MGET", "p:key:0", "p:missing", "p:key:1")]
    expected += [[], [TRICKY[0], None, TRICKY[1]]]
    commands += [("INCR", "p:counter"), ("INCRBY", "p:counter", -5)]
    expected += [1, -4]
    commands += [("SET", "p:big", big), ("GET", "p:big"), ("STRLEN", "p:big")]
    expected += ["OK", big, len(big)]
    commands += [("ECHO", b"\r\n\r\n"), ("PING", "x\r\ny")]
    expected += [b"\r\n\r\n", b"x\r\ny"]

    with connect(redis_port) as sock:
        mgr = BufferManager()
        replies = pipeline(sock, mgr, commands)
        assert replies == expected

        # An error reply is one frame like any other, and the pipeline goes on after it.
        errors = pipeline(sock, mgr, [("LPUSH", "p:key:0", "x"), ("NO-SUCH-COMMAND",), ("PING",)])
        assert isinstance(errors[0], ReplyError)
        assert errors[0].startswith("WRONGTYPE")
        assert isinstance(errors[1], ReplyError)
        assert errors[1].startswith("ERR unknown command")
        assert errors[2] == "PONG"
        assert len(mgr) == 0
    frames_checked["redis"] += len(replies) + len(errors)


def test_commands_through_a_custom_encoder(
    redis_port: int, frames_checked: collections.Counter[str]
) -> None:
    """Framed over the RESP rule object: commands encoded by its encode(), one reply each."""
    with Framed(connect(redis_port), RESP) as redis:
        for index, value in enumerate(TRICKY):
            assert decode(redis.query(("SET", f"e:key:{index}", value), timeout=10)) == "OK"
        redis.send(("RPUSH", "e:list", *TRICKY))
        redis.send(("LRANGE", "e:list", 0, -1))
        for expected in (len(TRICKY), TRICKY):  # a reply each
            with redis.read_frame(timeout=10) as frame:
                assert decode(frame.view) == expected
        mget = ("MGET", *(f"e:key:{index}" for index in range(len(TRICKY))))
        assert decode(redis.query(mget, timeout=10)) == TRICKY
        error = decode(redis.query(("INCR", "e:list"), timeout=10))
        assert isinstance(error, ReplyError)
        assert error.startswith("WRONGTYPE")
        with pytest.raises(ValueError, match="needs at least its name"):
            redis.send(())
        assert len(redis.manager) == 0
    frames_checked["redis"] += len(TRICKY) + 4


def test_nested_arrays(redis_port: int, frames_checked: collections.Counter[str]) -> None:
    """Streams and transactions reply with arrays of arrays (of arrays)."""
    with connect(redis_port) as sock:
        mgr = BufferManager()
        ids = pipeline(
            sock,
            mgr,
            [
                ("XADD", "n:stream", "1-1", "field", TRICKY[0], "other", b""),
                ("XADD", "n:stream", "2-1", "f\r\n", TRICKY[4]),
            ],
        )
        assert ids == [b"1-1", b"2-1"]
        [entries] = pipeline(sock, mgr, [("XRANGE", "n:stream", "-", "+")])
        assert entries == [
            [b"1-1", [b"field", TRICKY[0], b"other", b""]],
            [b"2-1", [b"f\r\n", TRICKY[4]]],
        ]
        [streams] = pipeline(sock, mgr, [("XREAD", "STREAMS", "n:stream", "0")])
        assert streams == [[b"n:stream", entries]]

        transaction = pipeline(
            sock,
            mgr,
            [
                ("MULTI",),
                ("SET", "n:k", TRICKY[5]),
                ("XRANGE", "n:stream", "-", "+"),
                ("GET", "n:k"),
                ("EXEC",),
            ],
        )
        assert transaction == ["OK", "QUEUED", "QUEUED", "QUEUED", ["OK", entries, TRICKY[5]]]
    frames_checked["redis"] += len(ids) + 2 + len(transaction)


def test_subscribe_push_stream_resp2(
    redis_port: int, frames_checked: collections.Counter[str]
) -> None:
    """SUBSCRIBE turns a connection into a stream of arrays that PUBLISH sends from another."""
    messages = [*TRICKY, _big_value(300_000, seed=2), *(b"m%d\r\n" % n for n in range(40))]
    channels = [b"chan:a", b"chan\r\nb"]
    with connect(redis_port) as subscriber, connect(redis_port) as publisher:
        inbox, outbox = BufferManager(), BufferManager()
        subscriber.sendall(encode_command("SUBSCRIBE", *channels))
        confirmations = read_replies(subscriber, inbox, 2)
        assert confirmations == [[b"subscribe", channels[0], 1], [b"subscribe", channels[1], 2]]

        sent = [(channels[n % 2], message) for n, message in enumerate(messages)]
        receivers = pipeline(publisher, outbox, [("PUBLISH", *pair) for pair in sent])
        assert receivers == [1] * len(sent)

        received = read_replies(subscriber, inbox, len(sent))
        assert received == [[b"message", channel, data] for channel, data in sent]
        assert len(inbox) == 0
    frames_checked["redis"] += len(confirmations) + len(receivers) + len(received)


# What DEBUG PROTOCOL <type> answers once HELLO 3 switched the connection to RESP3.
DEBUG_PROTOCOL = {
    "string": b"Hello World",
    "integer": 12345,
    "double": 3.141,
    "bignum": 1234567999999999999999999999999999999,
    "null": None,
    "array": [0, 1, 2],
    "set": [0, 1, 2],
    "map": {0: False, 1: True, 2: False},
    "attrib": b"Some real reply following the attribute",  # after an attribute, skipped
    "verbatim": b"This is a verbatim\nstring",
    "true": True,
    "false": False,
}


def test_resp3_types_and_push_messages(
    redis_port: int, frames_checked: collections.Counter[str]
) -> None:
    """HELLO 3 switches to RESP3: maps, sets, doubles, attributes, and ``>`` push messages."""
    with connect(redis_port) as client, connect(redis_port) as publisher:
        inbox = BufferManager()
        [hello] = pipeline(client, inbox, [("HELLO", 3)])
        assert isinstance(hello, dict)
        assert (hello[b"server"], hello[b"proto"], hello[b"modules"]) == (b"redis", 3, [])

        replies = pipeline(client, inbox, [("DEBUG", "PROTOCOL", kind) for kind in DEBUG_PROTOCOL])
        assert replies == list(DEBUG_PROTOCOL.values())
        # DEBUG PROTOCOL push: a push message first, then the command's own reply.
        pushed = pipeline(client, inbox, [("DEBUG", "PROTOCOL", "push")]) + read_replies(
            client, inbox, 1
        )
        assert isinstance(pushed[0], Push)
        assert pushed == [[b"server-cpu-usage", 42], b"Some real reply following the push reply"]

        [confirmation] = pipeline(client, inbox, [("SUBSCRIBE", "chan3")])
        assert isinstance(confirmation, Push)
        assert confirmation == [b"subscribe", b"chan3", 1]
        messages = [*TRICKY, _big_value(70_000, seed=3)]
        receivers = pipeline(
            publisher, BufferManager(), [("PUBLISH", "chan3", m) for m in messages]
        )
        assert receivers == [1] * len(messages)
        pushes = read_replies(client, inbox, len(messages))
        assert all(isinstance(push, Push) for push in pushes)
        assert pushes == [[b"message", b"chan3", data] for data in messages]
    checked = 1 + len(replies) + len(pushed) + 1 + len(receivers) + len(pushes)
    frames_checked["redis"] += checked


def test_replayed_in_any_chunking(
    redis_port: int, frames_checked: collections.Counter[str]
) -> None:
    """The server's exact bytes, fed back byte by byte and in uneven pieces: the same frames."""
    commands: list[tuple[bytes | str | int, ...]] = [("SET", "c:key", TRICKY[0]), ("GET", "c:key")]
    commands += [("RPUSH", "c:list", *TRICKY), ("LRANGE", "c:list", 0, -1)]
    commands += [("XADD", "c:s", "1-1", "a", TRICKY[4]), ("XRANGE", "c:s", "-", "+")]
    commands += [("GET", "c:none"), ("NOPE",), ("HELLO", 3)]
    commands += [("DEBUG", "PROTOCOL", kind) for kind in ("attrib", "map", "verbatim", "null")]
    with connect(redis_port) as sock:
        sock.sendall(b"".join(encode_command(*command) for command in commands))
        mgr = BufferManager()
        originals = []
        for _ in commands:
            with read_frame(sock, mgr, resp_reply, timeout=10) as frame:
                originals.append(frame.tobytes())
    stream = b"".join(originals)  # a payload is a whole reply: together, the stream as sent

    for pieces in (1, "random"):
        frames = feed_in_pieces(resp_reply, stream, pieces, seed=7)
        assert frames == originals
        frames_checked["redis"] += len(frames)


# ------------------------------------------------------------------------------------------------
# The rule alone: cost and refusals.


def test_a_huge_blob_is_not_rescanned_per_read() -> None:
    """2 MiB of body in 1 KiB reads, after 1000 small elements: while the body arrives, each
    call looks at the blob's header only, neither at the body nor at the elements before it."""
    body = _big_value(2 * 1024 * 1024, seed=4)
    elements = b":1\r\n" * 1000
    reply = b"*1001\r\n%s$%d\r\n%s\r\n" % (elements, len(body), body)
    buffer = CountingBuffer()
    assert count_scanning(resp_reply, reply, 1024, buffer) == [reply]
    calls = len(reply) // 1024 + 1
    # A few header bytes per call, plus a handful of walks over the elements.
    assert buffer.examined < 40 * calls + 10 * len(elements)
    assert buffer.examined < len(reply) // 20


def test_a_long_line_is_scanned_once() -> None:
    """A 1 MiB error line fed in 100-byte pieces: each byte is looked at about once."""
    reply = b"-ERR " + b"x" * (1024 * 1024) + b"\r\n"
    buffer = CountingBuffer()
    assert count_scanning(resp_reply, reply, 100, buffer) == [reply]
    assert buffer.examined < 3 * len(reply)


def test_a_declared_size_beyond_max_size_is_refused_before_the_body() -> None:
    mgr = BufferManager(max_size=64 * 1024)
    mgr.feed(b"*2\r\n$1\r\na\r\n$1000000000\r\nabc")
    with pytest.raises(FrameTooLarge) as error:
        mgr.next_frame(resp_reply)
    assert error.value.size >= 1_000_000_000


def test_an_aggregate_counting_more_values_than_max_size_holds_is_refused() -> None:
    mgr = BufferManager(max_size=64 * 1024)
    mgr.feed(b"*50000000\r\n")
    with pytest.raises(FrameTooLarge) as error:
        mgr.next_frame(resp_reply)
    assert error.value.size >= 3 * 50_000_000


@pytest.mark.parametrize(
    ("stream", "offset"),
    [
        (b"+OK\r\n?what\r\n", 0),  # offset from the first unconsumed byte: the second reply
        (b"*2\r\n:1\r\n$x\r\n", 9),
        (b"$3\r\nabcd\r\n", 7),
        (b"$-2\r\n", 0),
        (b"*1\r\n$ 1\r\na\r\n", 5),
    ],
)
def test_malformed_replies_raise_framing_error(stream: bytes, offset: int) -> None:
    mgr = BufferManager()
    mgr.feed(stream)
    if stream.startswith(b"+OK"):
        frame = mgr.next_frame(resp_reply)
        assert frame == b"+OK\r\n"
        frame.consume()
    with pytest.raises(FramingError) as error:
        mgr.next_frame(resp_reply)
    assert error.value.offset == offset
