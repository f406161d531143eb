"""read_with_rule, read_frame, iter_frames and iter_payloads over scripted socket doubles
(tokio-util style: chunks, then would-block, timeout, EOF as scripted).

Real sockets and TLS are in ``test_socket_real.py``.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streamframer._io._socket
from helpers import (
    DETERMINISTIC,
    FakeClock,
    ScriptedRecvSocket,
    ScriptedSocket,
    ScriptItem,
    cut_at,
)
from streamframer import (
    BufferManager,
    Delimited,
    FrameLifecycleError,
    FrameTooLarge,
    StreamClosed,
    iter_frames,
    iter_payloads,
    read_frame,
    read_with_rule,
    until_delim,
)
from test_rules import RULE_IDS, RULES, expected_split, streams_for

LINE = until_delim(b"\n")
Socket = Any


def timeout() -> socket.timeout:
    return socket.timeout("timed out")


# --------------------------------------------------------------------------------------------
# Ways to read a whole scripted stream; each returns (payloads, partial at EOF)


def by_read_with_rule(sock: Socket, mgr: BufferManager, rule: Any) -> tuple[list[bytes], bytes]:
    payloads: list[bytes] = []
    while True:
        try:
            frame = read_with_rule(sock, mgr, rule)
        except TimeoutError:
            continue  # nothing lost: the next call resumes
        except StreamClosed as exc:
            return payloads, exc.partial
        if frame is not None:
            with frame:
                payloads.append(bytes(frame))


def by_read_frame(sock: Socket, mgr: BufferManager, rule: Any) -> tuple[list[bytes], bytes]:
    payloads: list[bytes] = []
    while True:
        try:
            with read_frame(sock, mgr, rule) as frame:
                payloads.append(bytes(frame))
        except TimeoutError:
            continue
        except StreamClosed as exc:
            return payloads, exc.partial


def by_iterator(
    make: Callable[[Socket, BufferManager, Any], Any], payload: Callable[[Any], bytes]
) -> Callable[[Socket, BufferManager, Any], tuple[list[bytes], bytes]]:
    def run(sock: Socket, mgr: BufferManager, rule: Any) -> tuple[list[bytes], bytes]:
        payloads: list[bytes] = []
        while True:  # a timeout ends an iterator; a new one resumes where it stopped
            try:
                for item in make(sock, mgr, rule):
                    payloads.append(payload(item))
            except TimeoutError:
                continue
            except StreamClosed as exc:
                partial = exc.partial
                assert partial, "iterators end quietly at a clean EOF"
                return payloads, partial
            return payloads, b""

    return run


READERS = {
    "read_with_rule": by_read_with_rule,
    "read_frame": by_read_frame,
    "iter_frames": by_iterator(iter_frames, bytes),
    "iter_payloads": by_iterator(iter_payloads, lambda payload: payload),
}


@st.composite
def scripts(draw: Any, delim: bytes) -> tuple[bytes, list[ScriptItem]]:
    """A stream, cut anywhere, with would-blocks and timeouts between the pieces, then EOF."""
    stream = draw(streams_for(delim))
    cuts = draw(st.lists(st.integers(0, len(stream)), max_size=8))
    script: list[ScriptItem] = []
    for piece in cut_at(stream, cuts):
        if piece:
            script.append(piece)
        event = draw(st.sampled_from(["none", "none", "would-block", "timeout"]))
        if event == "would-block":
            script.append(BlockingIOError)
        elif event == "timeout":
            script.append(timeout())
    return stream, [*script, b""]


@pytest.mark.parametrize(("rule", "delim", "strip", "keep"), RULES, ids=RULE_IDS)
@settings(DETERMINISTIC, max_examples=30)
@given(data=st.data())
def test_any_script_frames_like_split(
    rule: Delimited, delim: bytes, strip: bytes | None, keep: bool, data: Any
) -> None:
    stream, script = data.draw(scripts(delim))
    read_size = data.draw(st.sampled_from([1, 3, 65536]))
    expected = expected_split(stream, delim, strip, keep)
    for name, reader in READERS.items():
        for kind in (ScriptedSocket, ScriptedRecvSocket):
            sock = kind(script)
            mgr = BufferManager(read_size=read_size)
            assert reader(sock, mgr, rule) == expected, (name, kind.__name__)
            assert not sock.script, "the stream was not read to its end"


# --------------------------------------------------------------------------------------------
# read_with_rule: the I/O semantics table, one row at a time


def test_a_buffered_frame_is_returned_without_touching_the_socket() -> None:
    sock = ScriptedSocket([b"a\nb\nc\n", BlockingIOError])
    mgr = BufferManager()
    got = []
    for _ in range(3):
        frame = read_with_rule(sock, mgr, LINE)
        assert frame is not None
        got.append(bytes(frame))
        frame.consume()
    assert got == [b"a", b"b", b"c"]
    assert sock.calls == 1
    assert read_with_rule(sock, mgr, LINE) is None  # now it reads, and would block
    assert sock.calls == 2


def test_bytes_without_a_complete_frame_give_none() -> None:
    sock = ScriptedSocket([b"ab", b"c", b"\nd"])
    mgr = BufferManager()
    assert read_with_rule(sock, mgr, LINE) is None
    assert read_with_rule(sock, mgr, LINE) is None
    frame = read_with_rule(sock, mgr, LINE)
    assert frame == b"abc"
    assert sock.calls == 3


@pytest.mark.parametrize(
    "would_block",
    [BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError],
    ids=lambda e: e.__name__,
)
def test_would_block_gives_none(would_block: type[Exception]) -> None:
    sock = ScriptedSocket([b"ab", would_block, b"\n"])
    mgr = BufferManager()
    assert read_with_rule(sock, mgr, LINE) is None
    assert read_with_rule(sock, mgr, LINE) is None
    assert read_with_rule(sock, mgr, LINE) == b"ab"


@pytest.mark.parametrize("kind", [ScriptedSocket, ScriptedRecvSocket])
def test_timeout_raises_timeout_error_and_loses_nothing(kind: type) -> None:
    sock = kind([b"hel", timeout(), b"lo\n"])
    mgr = BufferManager()
    assert read_with_rule(sock, mgr, LINE) is None
    with pytest.raises(TimeoutError) as info:
        read_with_rule(sock, mgr, LINE)
    assert isinstance(info.value, socket.timeout)  # both names work, on every version
    assert bytes(mgr.view()) == b"hel"
    assert read_with_rule(sock, mgr, LINE) == b"hello"


def test_other_socket_errors_propagate_and_keep_the_bytes() -> None:
    sock = ScriptedSocket([b"par", ConnectionResetError(104, "reset")])
    mgr = BufferManager()
    assert read_with_rule(sock, mgr, LINE) is None
    with pytest.raises(ConnectionResetError):
        read_with_rule(sock, mgr, LINE)
    assert bytes(mgr.view()) == b"par"


@pytest.mark.parametrize("kind", [ScriptedSocket, ScriptedRecvSocket])
def test_peer_closed(kind: type) -> None:
    clean = kind([b"a\n", b""])
    mgr = BufferManager()
    frame = read_with_rule(clean, mgr, LINE)
    assert frame == b"a"
    frame.consume()
    with pytest.raises(StreamClosed, match="cleanly") as info:
        read_with_rule(clean, mgr, LINE)
    assert info.value.partial == b""
    assert isinstance(info.value, EOFError)
    assert mgr.at_eof
    calls = clean.calls
    with pytest.raises(StreamClosed):  # reported again, without reading again
        read_with_rule(clean, mgr, LINE)
    assert clean.calls == calls

    unclean = kind([b"a\nbc", b""])
    mgr = BufferManager()
    with read_with_rule(unclean, mgr, LINE) as first:  # type: ignore[union-attr]
        assert first == b"a"
    with pytest.raises(StreamClosed, match=r"2 bytes left, b'bc'") as info:
        read_with_rule(unclean, mgr, LINE)
    assert info.value.partial == b"bc"
    assert bytes(mgr.view()) == b"bc"


def read_until_error(sock: Socket, mgr: BufferManager) -> None:
    while True:
        assert read_with_rule(sock, mgr, LINE) is None


def test_reads_never_exceed_max_size() -> None:
    sock = ScriptedSocket([b"x" * 100])
    mgr = BufferManager(max_size=30, read_size=8)
    with pytest.raises(FrameTooLarge) as info:
        read_until_error(sock, mgr)
    assert (info.value.limit, info.value.size) == (30, 30)
    assert sum(sock.requested) == 30  # the last read asked for exactly what was left
    assert sock.remaining == b"x" * 70


@pytest.mark.parametrize("read_size", [1, 8, 300, 5000])
@pytest.mark.parametrize("kind", [ScriptedSocket, ScriptedRecvSocket])
def test_reads_never_exceed_read_size(kind: type, read_size: int) -> None:
    """read_size is the most one read asks for, full reads or short ones."""
    sock = kind([b"x" * 20_000, b"y" * 3, b"z" * 60_000])
    mgr = BufferManager(read_size=read_size)
    for _ in range(12):
        assert read_with_rule(sock, mgr, LINE) is None
    assert max(sock.requested) <= read_size, sock.requested


def test_read_with_rule_while_a_frame_is_outstanding_does_not_read() -> None:
    sock = ScriptedSocket([b"a\nb\n"])
    mgr = BufferManager()
    frame = read_with_rule(sock, mgr, LINE)
    assert frame is not None
    with pytest.raises(FrameLifecycleError):
        read_with_rule(sock, mgr, LINE)
    assert sock.calls == 1
    frame.consume()


# --------------------------------------------------------------------------------------------
# read_frame, iter_frames, iter_payloads


def test_read_frame_waits_across_reads() -> None:
    sock = ScriptedSocket([b"a", BlockingIOError, b"b", b"c\nd"])
    mgr = BufferManager()
    frame = read_frame(sock, mgr, LINE)
    assert frame == b"abc"
    frame.consume()
    assert sock.calls == 4
    assert bytes(mgr.view()) == b"d"


def test_read_frame_returns_a_buffered_frame_without_reading() -> None:
    sock = ScriptedSocket([])
    mgr = BufferManager()
    mgr.feed(b"x\n")
    assert read_frame(sock, mgr, LINE, timeout=0) == b"x"
    assert sock.calls == 0


def test_read_frame_deadline_with_a_source_without_fileno(monkeypatch: pytest.MonkeyPatch) -> None:
    """a non-blocking source without fileno() must not make read_frame spin forever."""
    monkeypatch.setattr(streamframer._io._socket, "time", FakeClock(step=1.0))
    sock = ScriptedSocket([b"par", *[BlockingIOError] * 1000])
    mgr = BufferManager()
    with pytest.raises(TimeoutError):
        read_frame(sock, mgr, LINE, timeout=3.5)
    assert sock.calls <= 4, f"{sock.calls} reads within a 3.5 s deadline on a 1 s/step clock"
    assert bytes(mgr.view()) == b"par"


def test_read_frame_with_timeout_zero_reads_once() -> None:
    """timeout=0 is "do not wait", not "do not read"."""
    sock = ScriptedSocket([b"par", b"t\n", BlockingIOError])
    mgr = BufferManager()
    with pytest.raises(TimeoutError):
        read_frame(sock, mgr, LINE, timeout=0)
    assert bytes(mgr.view()) == b"par"
    assert read_frame(sock, mgr, LINE, timeout=0) == b"part"


def test_iter_frames_consumes_each_frame_when_the_loop_advances() -> None:
    sock = ScriptedSocket([b"a\nb\n", b"c\n", b""])
    mgr = BufferManager()
    seen = []
    for frame in iter_frames(sock, mgr, LINE):
        seen.append(frame)
        assert not frame.consumed
    assert [f.consumed for f in seen] == [True, True, True]
    assert len(mgr) == 0


def test_iter_frames_lets_the_caller_consume() -> None:
    sock = ScriptedSocket([b"a\nb\n", b""])
    got = []
    for frame in iter_frames(sock, BufferManager(), LINE):
        with frame:
            got.append(bytes(frame))
    assert got == [b"a", b"b"]


def test_leaving_iter_frames_early_leaves_the_frame_to_the_caller() -> None:
    sock = ScriptedSocket([b"a\nb\n", b""])
    mgr = BufferManager()
    frame = next(iter_frames(sock, mgr, LINE))
    assert frame == b"a"
    assert not frame.consumed
    with pytest.raises(FrameLifecycleError):
        mgr.next_frame(LINE)
    frame.consume()
    assert [bytes(f) for f in iter_frames(sock, mgr, LINE)] == [b"b"]


def test_iter_frames_at_an_unclean_eof() -> None:
    sock = ScriptedSocket([b"a\nb", b""])
    got: list[bytes] = []
    with pytest.raises(StreamClosed) as info:
        got.extend(bytes(frame) for frame in iter_frames(sock, BufferManager(), LINE))
    assert got == [b"a"]
    assert info.value.partial == b"b"


def test_iter_payloads_takes_a_whole_read_at_once() -> None:
    sock = ScriptedSocket([b"a\nb\nc\n", b"d\n", b""])
    got = []
    calls = []
    for payload in iter_payloads(sock, BufferManager(), LINE):
        got.append(payload)
        calls.append(sock.calls)
    assert got == [b"a", b"b", b"c", b"d"]
    assert calls == [1, 1, 1, 2]


# --------------------------------------------------------------------------------------------
# Misbehaving sources and reads under a view


class KeepsTheBuffer:
    """A source whose recv_into keeps a slice of the buffer it was given (a bug in the source)."""

    def __init__(self) -> None:
        self.kept: memoryview | None = None

    def recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:
        buffer[:3] = b"ab\n"
        self.kept = buffer[:1]
        return 3


def test_a_source_keeping_the_buffer_corrupts_nothing() -> None:
    """the error is right, but the unused reservation must not become data."""
    source = KeepsTheBuffer()
    mgr = BufferManager()
    with pytest.raises(FrameLifecycleError, match="kept an export"):
        read_with_rule(source, mgr, LINE)
    assert source.kept is not None
    source.kept.release()
    assert len(mgr) <= 3, f"{len(mgr)} bytes buffered after a 3-byte read"
    frame = mgr.next_frame(LINE)
    assert frame == b"ab"
    frame.consume()
    assert len(mgr) == 0


def test_reading_while_a_view_is_alive_is_refused_before_reading() -> None:
    sock = ScriptedSocket([b"z\n"])
    mgr = BufferManager()
    mgr.feed(b"a")
    view = mgr.view()
    with pytest.raises(FrameLifecycleError, match="exported"):
        read_with_rule(sock, mgr, LINE)
    assert sock.calls == 0  # refused before the read: nothing received was dropped
    view.release()
    assert read_with_rule(sock, mgr, LINE) == b"az"


def test_bytes_fed_before_a_read_come_first() -> None:
    """Bytes fed while a view was alive wait; the next read appends after them."""
    sock = ScriptedSocket([b"c\n"])
    mgr = BufferManager()
    mgr.feed(b"a")
    with mgr.view():
        mgr.feed(b"b")  # cannot be appended now: waits, in order
    assert len(mgr) == 2
    assert read_with_rule(sock, mgr, LINE) == b"abc"


def test_a_source_without_read_methods_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"recv_into\(\), recv\(\) or readinto\(\)"):
        read_with_rule(object(), BufferManager(), LINE)  # type: ignore[arg-type]
