"""drain() when frames are big: payloads are copied one by one out of the buffer instead of
through one split, and must come out exactly as next_frame() gives them, limits included."""

from __future__ import annotations

import random

import pytest

from helpers import chunks_of, drained_from_chunks, frames_from_chunks
from streamframer import BufferManager, FrameTooLarge, until_delim

KiB = 1024


def mixed_stream(delim: bytes, seed: int) -> bytes:
    """Big and small frames in random order, payloads told apart by their filler byte."""
    rng = random.Random(seed)
    sizes = [rng.choice([0, 1, 10, 4 * KiB - 1, 4 * KiB, 5 * KiB, 40 * KiB]) for _ in range(40)]
    return b"".join(bytes([97 + i % 26]) * size + delim for i, size in enumerate(sizes))


@pytest.mark.parametrize("delim", [b"\n", b"\r\n", b"aba"], ids=repr)
@pytest.mark.parametrize("read", [1000, 4 * KiB, 64 * KiB, 1 << 20])
def test_drain_gives_what_next_frame_gives_with_big_frames(delim: bytes, read: int) -> None:
    stream = mixed_stream(delim, seed=read) + b"tail"
    rule = until_delim(delim)
    chunks = [bytes(chunk) for chunk in chunks_of(stream, read)]
    expected = frames_from_chunks(rule, chunks)
    assert len(expected[0]) == 40
    assert drained_from_chunks(rule, chunks) == expected


def test_drain_returns_the_big_frames_before_an_oversized_one_then_raises() -> None:
    limit = 10 * KiB
    stream = b"a" * (5 * KiB) + b"\n" + b"b" * (6 * KiB) + b"\n" + b"c" * (20 * KiB) + b"\n"
    rule = until_delim(b"\n")
    mgr = BufferManager(max_size=limit)
    assert mgr.drain(rule) == []  # the rule is now the manager's: the next drain splits
    mgr.feed(stream)
    assert mgr.drain(rule) == [b"a" * (5 * KiB), b"b" * (6 * KiB)]
    with pytest.raises(FrameTooLarge) as info:
        mgr.drain(rule)
    assert info.value.limit == limit
