"""A frame dropped unconsumed gives its bytes back; clear() and discard() recover from every state.

Bytes leave the buffer only through ``consume()`` (or ``clear()``/``discard()``): a frame whose
object is collected unconsumed (a REPL's ``print(c.read_frame())``) goes back to its manager, the
next read returns the same bytes again, and a ``ResourceWarning`` says so. Nothing wedges. While
a view of the frame is alive nothing moves: the frame stays outstanding until the view goes.

On a bare manager and through each adapter; every test runs on both cores (tests/cores.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import socket
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Iterator
from typing import Any, Callable

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from hypothesis import given
from hypothesis import strategies as st

from helpers import DETERMINISTIC, ScriptedSocket, split_at, take
from streamframer import (
    BufferManager,
    Framed,
    FrameDiscarded,
    FrameLifecycleError,
    FrameTooLarge,
    StreamClosed,
    connect,
    iter_frames,
    read_frame,
    read_with_rule,
    until_delim,
)
from streamframer.aio import FramedProtocol
from streamframer.anyio import FramedStream

LINE = until_delim(b"\n")
DROPPED = (
    "a frame ({} bytes) was dropped unconsumed: its bytes stay in the buffer and the next read "
    "returns them again (call frame.consume(), or use 'with frame:', to remove them)"
)


@contextlib.contextmanager
def expect_dropped(count: int = 1, size: int = 5) -> Iterator[None]:
    """Exactly ``count`` frames of ``size`` bytes must be dropped unconsumed in the block: one
    ResourceWarning each, and no other warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    assert [(w.category, str(w.message)) for w in caught] == [
        (ResourceWarning, DROPPED.format(size))
    ] * count


def hello_world(**options: Any) -> BufferManager:
    mgr = BufferManager(**options)
    mgr.feed(b"hello\nworld\n")
    return mgr


# ------------------------------------------------------------------------------------------
# A bare manager


def test_a_frame_printed_and_dropped_is_read_again(capsys: pytest.CaptureFixture[str]) -> None:
    mgr = hello_world()
    with expect_dropped():
        print(mgr.next_frame(LINE))  # what a REPL user types
    with expect_dropped():
        print(bytes(mgr.next_frame(LINE)))  # type: ignore[arg-type]
    with mgr.next_frame(LINE) as frame:  # type: ignore[union-attr]
        assert frame == b"hello"
    with mgr.next_frame(LINE) as frame:  # type: ignore[union-attr]
        assert frame == b"world"
    assert capsys.readouterr().out == "<Frame 5 bytes b'hello'>\nb'hello'\n"
    assert len(mgr) == 0


def test_the_warning_says_what_happened_and_what_to_do() -> None:
    mgr = hello_world()
    with pytest.warns(ResourceWarning) as caught:
        mgr.next_frame(LINE)
    assert [str(warning.message) for warning in caught] == [
        "a frame (5 bytes) was dropped unconsumed: its bytes stay in the buffer and the next read "
        "returns them again (call frame.consume(), or use 'with frame:', to remove them)"
    ]


def test_under_w_error_the_warning_goes_to_the_unraisable_hook_with_the_bytes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raised: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: raised.append(info.exc_value))
    mgr = hello_world()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = mgr.next_frame(LINE)
        del frame
    (error,) = raised
    assert isinstance(error, ResourceWarning)
    assert "dropped unconsumed" in str(error)
    with mgr.next_frame(LINE) as frame:  # type: ignore[union-attr]
        assert frame == b"hello"


def test_bytes_fed_behind_a_dropped_frame_stay_in_order() -> None:
    mgr = BufferManager()
    mgr.feed(b"one\ntw")
    frame = mgr.next_frame(LINE)
    mgr.feed(b"o\nthree\n")  # waits behind the outstanding frame
    with expect_dropped(size=3):
        del frame
    assert take_all(mgr) == [b"one", b"two", b"three"]


def test_the_last_frame_at_the_end_of_the_stream_is_given_back_too() -> None:
    mgr = BufferManager(on_eof="frame")
    mgr.feed(b"tail")
    mgr.feed_eof()
    with expect_dropped(size=4):
        mgr.next_frame(LINE)
    assert take_all(mgr) == [b"tail"]


def test_a_frame_dropped_while_a_slice_of_its_view_lives_waits_for_the_slice() -> None:
    mgr = hello_world()
    frame = mgr.next_frame(LINE)
    assert frame is not None
    piece = frame.view[1:4]
    del frame  # nothing may move under the slice: the frame stays outstanding
    with pytest.raises(FrameLifecycleError, match="a view of it is still alive"):
        mgr.next_frame(LINE)
    with pytest.raises(FrameLifecycleError, match="a view of it is still alive"):
        mgr.clear()
    mgr.feed(b"more\n")  # waits behind it
    assert bytes(piece) == b"ell"
    with expect_dropped():
        piece.release()
        # The compiled core's frame dies with its last view; the pure core notices here.
        first = mgr.next_frame(LINE)
    assert first is not None
    with first:
        assert first == b"hello"
    assert take_all(mgr) == [b"world", b"more"]


def test_a_frame_dropped_in_a_garbage_cycle_is_given_back() -> None:
    mgr = hello_world()
    box: list[Any] = [mgr.next_frame(LINE)]
    box.append(box)
    del box
    with expect_dropped():
        gc.collect()
    assert take_all(mgr) == [b"hello", b"world"]


def test_a_frame_dropped_on_another_thread_is_given_back() -> None:
    mgr = hello_world()
    holder = [mgr.next_frame(LINE)]
    with expect_dropped():
        thread = threading.Thread(target=holder.clear)
        thread.start()
        thread.join()
    assert take_all(mgr) == [b"hello", b"world"]


# ------------------------------------------------------------------------------------------
# clear() and discard() from every state


def test_clear_ends_an_outstanding_frame() -> None:
    mgr = hello_world()
    frame = mgr.next_frame(LINE)
    assert frame is not None
    mgr.clear()
    assert (len(mgr), frame.consumed, repr(frame)) == (0, True, "<Frame ended>")
    uses: list[Callable[[], object]] = [
        frame.consume,
        frame.tobytes,
        frame.__len__,
        functools.partial(getattr, frame, "view"),
    ]
    for use in uses:
        with pytest.raises(FrameLifecycleError, match=r"ended by clear\(\) or discard\(\)"):
            use()
    with frame:  # nothing left to consume on exit
        pass
    del frame  # ended, not dropped: no warning (-W error would raise one)
    mgr.feed(b"next\n")
    assert take_all(mgr) == [b"next"]


def test_discard_ends_an_outstanding_frame_and_drops_only_what_it_is_asked_to() -> None:
    mgr = hello_world()
    frame = mgr.next_frame(LINE)
    mgr.discard(2)
    assert frame is not None
    assert frame.consumed
    del frame
    assert take_all(mgr) == [b"llo", b"world"]


def test_discard_with_bytes_waiting_behind_the_frame() -> None:
    mgr = BufferManager()
    mgr.feed(b"a\n")
    frame = mgr.next_frame(LINE)
    mgr.feed(b"bc\nd\n")  # waits behind the frame
    mgr.discard(3)  # the frame, its delimiter, and one waiting byte
    assert frame is not None
    assert frame.consumed
    assert take_all(mgr) == [b"c", b"d"]


def test_clear_and_discard_refuse_while_a_view_of_the_frame_lives() -> None:
    mgr = hello_world()
    frame = mgr.next_frame(LINE)
    assert frame is not None
    view = frame.view
    calls: list[Callable[[], None]] = [mgr.clear, lambda: mgr.discard(1)]
    for call in calls:
        with pytest.raises(FrameLifecycleError, match=r"a view of it is still alive \(frame.view"):
            call()
    assert (frame == b"hello", len(mgr)) == (True, 12)  # nothing changed
    view.release()
    mgr.clear()
    assert (frame.consumed, len(mgr)) == (True, 0)


def test_clear_while_a_reservation_waits_for_its_commit() -> None:
    mgr = hello_world()
    view = mgr.reserve(8)
    mgr.clear()
    view[:5] = b"late\n"
    mgr.commit(5)
    assert take_all(mgr) == [b"late"]


def test_clear_at_the_end_of_the_stream_with_the_last_frame_outstanding() -> None:
    mgr = BufferManager(on_eof="frame")
    mgr.feed(b"partial")
    mgr.feed_eof()
    frame = mgr.next_frame(LINE)
    mgr.clear()
    assert frame is not None
    assert frame.consumed
    with pytest.raises(StreamClosed) as info:
        mgr.next_frame(LINE)
    assert info.value.partial == b""


def test_clear_after_a_frame_too_large_with_one_outstanding_before_it() -> None:
    mgr = BufferManager(max_size=8)
    mgr.feed(b"ok\n" + b"x" * 20 + b"\nnext\n")
    frame = mgr.next_frame(LINE)
    mgr.discard(3)  # ends the frame
    with pytest.raises(FrameTooLarge):
        mgr.next_frame(LINE)
    mgr.discard(21)
    assert frame is not None
    assert frame.consumed
    assert take_all(mgr) == [b"next"]


def test_discard_while_an_oversized_frame_is_arriving() -> None:
    mgr = BufferManager(max_size=8, on_overflow="discard")
    mgr.feed(b"ok\n" + b"x" * 12)
    frame = mgr.next_frame(LINE)
    mgr.discard(3)  # ends "ok"; the oversized line is still arriving
    assert frame is not None
    assert frame.consumed
    assert mgr.next_frame(LINE) is None  # dropping it as it comes
    mgr.feed(b"x\nafter\n")
    with pytest.raises(FrameDiscarded):
        mgr.next_frame(LINE)
    assert take_all(mgr) == [b"after"]


# ------------------------------------------------------------------------------------------
# Nothing is lost


@DETERMINISTIC
@given(
    payloads=st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=25),
    cuts=st.lists(st.integers(1, 9), min_size=1),
    drops=st.lists(st.booleans(), max_size=60),
)
def test_dropping_frames_at_random_loses_and_repeats_nothing(
    payloads: list[bytes], cuts: list[int], drops: list[bool]
) -> None:
    """A stream fed in random chunks, each frame read either dropped or consumed (``drops`` in
    turn, then consumed once they run out): the frames consumed are the stream, in order, once,
    and each drop gave one warning."""
    stream = b"".join(payload + b"\n" for payload in payloads)
    mgr = BufferManager(read_size=7)
    consumed: list[bytes] = []
    dropped: list[int] = []
    decisions = iter(drops)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for chunk in split_at(stream, cuts):
            mgr.feed(chunk)
            while (frame := mgr.next_frame(LINE)) is not None:
                if next(decisions, False):
                    dropped.append(len(frame))
                    del frame
                    continue
                consumed.append(frame.tobytes())
                frame.consume()
    assert consumed == payloads
    assert len(mgr) == 0
    assert [str(w.message) for w in caught] == [DROPPED.format(size) for size in dropped]


# ------------------------------------------------------------------------------------------
# Every adapter


def test_read_with_rule_and_read_frame_return_a_dropped_frame_again() -> None:
    mgr = BufferManager()
    sock = ScriptedSocket([b"hello\nworld\n"])
    with expect_dropped():
        print(read_with_rule(sock, mgr, LINE))
    with expect_dropped():
        print(bytes(read_frame(sock, mgr, LINE)))
    with read_frame(sock, mgr, LINE) as frame:
        assert frame == b"hello"
    with read_with_rule(sock, mgr, LINE) as frame:  # type: ignore[union-attr]
        assert frame == b"world"
    assert sock.calls == 1  # the dropped frame came from the buffer, not from the socket


def test_a_frame_dropped_after_leaving_iter_frames_early_is_read_again() -> None:
    mgr = BufferManager()
    sock = ScriptedSocket([b"hello\nworld\n", b""])
    for frame in iter_frames(sock, mgr, LINE):
        assert frame == b"hello"
        break
    with expect_dropped():
        del frame
    assert [bytes(f) for f in iter_frames(sock, mgr, LINE)] == [b"hello", b"world"]


@pytest.fixture
def line_server() -> Iterator[str]:
    """A TCP peer on loopback that sends two lines to whoever connects, then closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)  # a test that never connects fails instead of hanging
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"hello\nworld\n")

    thread = threading.Thread(target=serve)
    thread.start()
    yield f"tcp://127.0.0.1:{port}"
    thread.join()
    listener.close()


def test_framed_the_repl_way_against_a_socket_peer(line_server: str) -> None:
    with connect(line_server, LINE, timeout=5) as c:
        with expect_dropped():
            print(c.read_frame())
        with expect_dropped():
            print(bytes(c.read_frame()))
        assert [bytes(frame) for frame in c] == [b"hello", b"world"]


def test_framed_clear_ends_the_frame_it_handed_out() -> None:
    ours, theirs = socket.socketpair()
    with Framed(ours, LINE) as c, theirs:
        theirs.sendall(b"stale\n")
        frame = c.read_frame(timeout=5)
        c.manager.clear()
        assert frame.consumed
        theirs.sendall(b"fresh\n")
        with c.read_frame(timeout=5) as fresh:
            assert fresh == b"fresh"


def test_asyncio_reader_returns_a_dropped_frame_again() -> None:
    async def main() -> list[bytes]:
        ours, theirs = socket.socketpair()
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(lambda: FramedProtocol(LINE), sock=ours)
        reader = protocol.reader
        theirs.sendall(b"hello\nworld\n")
        with expect_dropped():
            print(await reader.read_frame())
        with await reader.read_frame() as again:
            seen = [bytes(again)]
        theirs.close()
        seen += [bytes(frame) async for frame in reader]
        protocol.writer.close()
        return seen

    assert asyncio.run(asyncio.wait_for(main(), 10)) == [b"hello", b"world"]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_anyio_stream_returns_a_dropped_frame_again(anyio_backend: str) -> None:
    chunks, received = anyio.create_memory_object_stream[bytes](10)
    async with (
        chunks,
        FramedStream(BufferedByteReceiveStream(received), LINE) as framed,
    ):
        await chunks.send(b"hello\nworld\n")
        with expect_dropped():
            print(await framed.read_frame())
        async for frame in framed:
            assert frame == b"hello"
            break
        with expect_dropped():
            del frame
            again = await framed.read_frame()
        with again:
            assert again == b"hello"
        with await framed.read_frame() as frame:
            assert frame == b"world"


# ------------------------------------------------------------------------------------------
# The compiled core under abuse, in a subprocess (a crash must fail the test, not the run)


@pytest.mark.one_core("c")
def test_the_compiled_core_survives_frames_dropped_in_awkward_places() -> None:
    script = textwrap.dedent(
        """
        import gc, sys, threading, warnings
        from streamframer import until_delim
        from streamframer._core._ccore import BufferManager

        LINE = until_delim(b"\\n")
        mgr = BufferManager()
        mgr.feed(b"a\\n")
        seen = []

        def hook(info):
            # Called from a frame's finalizer: the manager is usable, the frame is back.
            seen.append(type(info.exc_value).__name__)
            with mgr.next_frame(LINE) as frame:
                seen.append(bytes(frame))
            mgr.feed(b"a\\n")

        sys.unraisablehook = hook
        warnings.simplefilter("error")
        for _ in range(3):
            mgr.next_frame(LINE)                      # dropped at once
        box = [mgr.next_frame(LINE)]; box.append(box); del box
        gc.collect()                                  # dropped in a garbage cycle
        holder = [mgr.next_frame(LINE)]
        t = threading.Thread(target=holder.clear); t.start(); t.join()
        frame = mgr.next_frame(LINE); view = frame.view; del frame
        view.release()                                # dropped with its last view
        print(seen)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == str(["ResourceWarning", b"a"] * 6) + "\n"


def take_all(mgr: BufferManager) -> list[bytes]:
    """Every frame buffered now, each consumed (up to the end of the stream, if it ended)."""
    frames = []
    with contextlib.suppress(StreamClosed):
        while (payload := take(mgr, LINE)) is not None:
            frames.append(payload)
    return frames
