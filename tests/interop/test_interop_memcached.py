"""A real memcached, its text-protocol replies framed by examples/memcached_text.py."""

from __future__ import annotations

import collections
import random

import pytest
from memcached_text import Item, get_items, memcached_reply, parse_item, storage_command

from streamframer import BufferManager, FrameTooLarge, FramingError, read_frame

from .replay import CountingBuffer, count_scanning, feed_in_pieces
from .servers import connect

# Data a delimiter search would cut short: the retrieval's own terminator and headers inside.
VALUES = {
    b"end": b"END\r\n",
    b"end-inside": b"before\r\nEND\r\nafter",
    b"fake-item": b"VALUE other 0 5\r\nhello\r\nEND\r\n",
    b"empty": b"",
    b"crlf": b"\r\n",
    b"binary": bytes(range(256)) * 4,
    b"big": b"END\r\n".join(random.Random(5).randbytes(997) for _ in range(500)),
}
FLAGS = {key: number * 7 for number, key in enumerate(VALUES)}


def _read_line(sock: object, mgr: BufferManager) -> bytes:
    with read_frame(sock, mgr, memcached_reply, timeout=10) as frame:  # type: ignore[arg-type]
        return frame.tobytes()


def test_set_get_gets_several_keys(
    memcached_port: int, frames_checked: collections.Counter[str]
) -> None:
    with connect(memcached_port) as sock:
        mgr = BufferManager()
        # Pipelined: every set at once, then one STORED line each.
        sock.sendall(
            b"".join(
                storage_command("set", key, data, flags=FLAGS[key]) for key, data in VALUES.items()
            )
        )
        stored = [_read_line(sock, mgr) for _ in VALUES]
        assert stored == [b"STORED"] * len(VALUES)

        keys = [*VALUES, b"absent"]
        items = get_items(sock, mgr, keys)
        assert items == [Item(key, FLAGS[key], data, None) for key, data in VALUES.items()]

        items_with_cas = get_items(sock, mgr, keys, command="gets")
        assert [item[:3] for item in items_with_cas] == [item[:3] for item in items]
        cas = {item.key: item.cas for item in items_with_cas if item.cas is not None}
        assert len(cas) == len(VALUES)

        # A cas with the current unique succeeds once; the stale unique then fails.
        replaced = b"VALUE end 0 3\r\nEND\r\nEND\r\n"
        sock.sendall(storage_command("cas", b"end", replaced, cas=cas[b"end"]))
        sock.sendall(storage_command("cas", b"end", b"lost", cas=cas[b"end"]))
        assert [_read_line(sock, mgr), _read_line(sock, mgr)] == [b"STORED", b"EXISTS"]
        [after] = get_items(sock, mgr, [b"end"], command="gets")
        assert (after.data, after.flags) == (replaced, 0)
        assert after.cas != cas[b"end"]

        sock.sendall(b"delete fake-item\r\ndelete fake-item\r\nbogus\r\n")
        replies = [_read_line(sock, mgr) for _ in range(3)]
        assert replies == [b"DELETED", b"NOT_FOUND", b"ERROR"]
        assert len(mgr) == 0
    # Each get: one frame per item and the END line.
    frames = len(stored) + 2 * (len(items) + 1) + 2 + 2 + 3
    frames_checked["memcached"] += frames


def test_replayed_in_any_chunking(
    memcached_port: int, frames_checked: collections.Counter[str]
) -> None:
    """The server's exact bytes, fed back byte by byte and in uneven pieces: the same frames."""
    small = {key: data for key, data in VALUES.items() if len(data) < 2000}
    with connect(memcached_port) as sock:
        sock.sendall(b"".join(storage_command("set", key, data) for key, data in small.items()))
        sock.sendall(b"get " + b" ".join(small) + b"\r\ngets end crlf\r\n")
        mgr = BufferManager()
        recorded = bytearray()
        originals: list[bytes] = []
        while len([frame for frame in originals if frame == b"END"]) < 2:
            with read_frame(sock, mgr, memcached_reply, timeout=10) as frame:
                originals.append(frame.tobytes())
                # Rebuild the stream as sent: an item's data is followed by CR LF, a line too.
                recorded += frame.view
                recorded += b"\r\n"
    assert len(originals) == 2 * len(small) + 1 + 2 + 1  # STORED and an item each, END; 2, END

    for piece in (1, 3, "random"):
        assert feed_in_pieces(memcached_reply, bytes(recorded), piece, seed=11) == originals
        frames_checked["memcached"] += len(originals)
    assert [parse_item(frame).data for frame in originals if frame.startswith(b"VALUE")] == [
        *small.values(),
        small[b"end"],
        small[b"crlf"],
    ]


def test_large_data_is_not_rescanned_per_read() -> None:
    data = b"END\r\n" * 200_000
    stream = b"VALUE k 0 %d\r\n%s\r\nEND\r\n" % (len(data), data)
    buffer = CountingBuffer()
    frames = count_scanning(memcached_reply, stream, 512, buffer)
    assert frames == [stream[: -len(b"\r\nEND\r\n")], b"END"]
    assert buffer.examined < len(stream) // 10


def test_declared_size_beyond_max_size_is_refused_at_once() -> None:
    mgr = BufferManager(max_size=4096)
    mgr.feed(b"VALUE k 0 1000000\r\npartial")
    with pytest.raises(FrameTooLarge) as error:
        mgr.next_frame(memcached_reply)
    assert error.value.size == len(b"VALUE k 0 1000000\r\n") + 1_000_000 + 2


@pytest.mark.parametrize(
    ("stream", "offset"),
    [(b"VALUE k 0 x\r\n", 0), (b"VALUE k 0\r\n", 0), (b"VALUE k 0 3\r\nabcd\r\n", 16)],
)
def test_malformed_items_raise_framing_error(stream: bytes, offset: int) -> None:
    mgr = BufferManager()
    mgr.feed(stream)
    with pytest.raises(FramingError) as error:
        mgr.next_frame(memcached_reply)
    assert error.value.offset == offset
