"""Workloads: one byte stream per workload, cut into the reads every implementation receives.

Each workload is generated once and handed, unchanged, to every implementation. It carries what a
correct framer must find: the number of frames, the number of payload bytes, and a digest of the
payloads in order. Payloads differ from one another (a frame index, or random bytes), so a framer
that returns the wrong slice of the right length is caught as surely as one that miscounts.

A frame's size is counted on the wire: "64 B lines" are 63 payload bytes and ``b"\\n"``;
"64 B CRLF lines" 62 and ``b"\\r\\n"``; "4-byte length-prefixed 64 B frames" a 4-byte header and 60
payload bytes; an IEEE 488.2 block ``#<n><length><data>\\n``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Callable

KiB = 1024
MiB = 1024 * KiB

# Printable ASCII without any delimiter the workloads use: line payloads never contain one.
_TEXT = bytes(range(33, 127))
_SEED = 20261125


@dataclass
class Workload:
    key: str
    title: str
    #: "lf", "crlf", "u32" (4-byte big-endian length prefix) or "ieee" (IEEE 488.2 block).
    framing: str
    chunks: list[bytes]
    frames: int
    payload_bytes: int
    digest: bytes
    read_size: int
    #: The largest frame on the wire (header, payload and delimiter), in bytes.
    largest_frame: int
    stream_bytes: int = 0

    def __post_init__(self) -> None:
        self.stream_bytes = sum(map(len, self.chunks))

    @property
    def delimiter(self) -> bytes:
        return {"lf": b"\n", "crlf": b"\r\n"}[self.framing]


class PayloadDigest:
    """An order-sensitive digest of a sequence of payloads (length-prefixed, so that moving bytes
    from one payload to the next changes it)."""

    def __init__(self) -> None:
        self._hash = hashlib.blake2b(digest_size=16)
        self.frames = 0
        self.payload_bytes = 0

    def add(self, payload: bytes) -> None:
        self._hash.update(len(payload).to_bytes(8, "little"))
        self._hash.update(payload)
        self.frames += 1
        self.payload_bytes += len(payload)

    def digest(self) -> bytes:
        return self._hash.digest()


def size_name(size: int) -> str:
    for unit, name in ((MiB, "MiB"), (KiB, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} B"


def text_payload(size: int, index: int) -> bytes:
    """A line payload of ``size`` bytes that starts with its index: ``b"0000000042:!..."``."""
    head = b"%010d:" % index
    if size <= len(head):
        return head[-size:] if size else b""
    body = size - len(head)
    return head + (_TEXT * (body // len(_TEXT) + 1))[:body]


def _fixed_reads(stream: bytes, read_size: int) -> list[bytes]:
    return [stream[i : i + read_size] for i in range(0, len(stream), read_size)]


def _random_reads(stream: bytes, low: int, high: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    chunks = []
    position = 0
    while position < len(stream):
        size = rng.randint(low, high)
        chunks.append(stream[position : position + size])
        position += size
    return chunks


def _build(
    key: str,
    title: str,
    framing: str,
    wire_frames: Iterable[tuple[bytes, bytes]],
    cut: Callable[[bytes], list[bytes]],
    read_size: int,
) -> Workload:
    """``wire_frames`` yields (payload, whole frame on the wire) pairs."""
    digest = PayloadDigest()
    parts = []
    largest = 0
    for payload, wire in wire_frames:
        digest.add(payload)
        parts.append(wire)
        largest = max(largest, len(wire))
    stream = b"".join(parts)
    del parts
    return Workload(
        key=key,
        title=title,
        framing=framing,
        chunks=cut(stream),
        frames=digest.frames,
        payload_bytes=digest.payload_bytes,
        digest=digest.digest(),
        read_size=read_size,
        largest_frame=largest,
    )


def lines(
    key: str, count: int, frame_size: int, read_size: int, crlf: bool = False, noun: str = "lines"
) -> Workload:
    """``count`` lines of ``frame_size`` bytes (delimiter included) in reads of ``read_size``."""
    delimiter = b"\r\n" if crlf else b"\n"
    size = frame_size - len(delimiter)

    def frames() -> Iterable[tuple[bytes, bytes]]:
        if count == 1:  # one big frame: build it without the per-line index loop
            payload = text_payload(size, 0)
            yield payload, payload + delimiter
            return
        for index in range(count):
            payload = text_payload(size, index)
            yield payload, payload + delimiter

    what = "CRLF lines" if crlf else noun
    if count == 1:
        what = "frame"
        title = f"one {size_name(frame_size)} {what} in {size_name(read_size)} reads"
    else:
        title = f"{size_name(frame_size)} {what} in {size_name(read_size)} reads"
    return _build(
        key,
        title,
        "crlf" if crlf else "lf",
        frames(),
        lambda stream: _fixed_reads(stream, read_size),
        read_size,
    )


def crlf_random_reads(key: str, count: int, frame_size: int, low: int, high: int) -> Workload:
    """CRLF lines in reads of a random size in ``[low, high]`` (seeded: the same for everyone)."""
    size = frame_size - 2
    pairs = ((p, p + b"\r\n") for p in (text_payload(size, i) for i in range(count)))
    title = f"{size_name(frame_size)} CRLF lines in random {low}-{high} B reads"
    return _build(
        key, title, "crlf", pairs, lambda stream: _random_reads(stream, low, high, _SEED), high
    )


def length_prefixed(key: str, count: int, frame_size: int, read_size: int) -> Workload:
    """Frames with a 4-byte big-endian length header; random payloads (any byte value)."""
    size = frame_size - 4
    blob = random.Random(_SEED).randbytes(count * size)
    header = size.to_bytes(4, "big")
    pairs = ((blob[i : i + size], header + blob[i : i + size]) for i in range(0, len(blob), size))
    title = f"4-byte length-prefixed {size_name(frame_size)} frames in {size_name(read_size)} reads"
    return _build(key, title, "u32", pairs, lambda s: _fixed_reads(s, read_size), read_size)


def ieee_blocks(key: str, count: int, block_size: int, read_size: int) -> Workload:
    """IEEE 488.2 definite-length blocks ``#<n><length><data>\\n`` with random data (which holds
    ``b"\\n"`` bytes that must not end a frame)."""
    rng = random.Random(_SEED)
    length = str(block_size).encode()
    header = b"#%d%s" % (len(length), length)
    pairs = (
        (data, header + data + b"\n") for data in (rng.randbytes(block_size) for _ in range(count))
    )
    title = f"{size_name(block_size)} IEEE 488.2 blocks in {size_name(read_size)} reads"
    return _build(key, title, "ieee", pairs, lambda s: _fixed_reads(s, read_size), read_size)
