"""File-like sources (readinto): pipes, files, pseudo-terminals, pyserial ports."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import socket
import sys
import tempfile
import tty
from collections.abc import Iterator
from typing import ClassVar

import pytest
import serial
from serial.urlhandler.protocol_loop import Serial as LoopSerial

from streamframer import (
    BufferManager,
    StreamClosed,
    iter_frames,
    iter_payloads,
    read_frame,
    read_with_rule,
    until_delim,
)

LINE = until_delim(b"\n")
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="pipes and ptys are POSIX here")


@pytest.fixture
def pipe() -> Iterator[tuple[io.FileIO, int]]:
    """(unbuffered reading end, writing descriptor); both closed afterwards."""
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "rb", buffering=0)
    try:
        yield reader, write_fd
    finally:
        reader.close()
        with contextlib.suppress(OSError):  # unless the test closed it
            os.close(write_fd)


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, io.FileIO]]:
    """(controlling descriptor, the device end opened unbuffered in raw mode)."""
    controller, device_fd = os.openpty()
    tty.setraw(device_fd)
    device = os.fdopen(device_fd, "rb", buffering=0)
    try:
        yield controller, device
    finally:
        device.close()
        with contextlib.suppress(OSError):  # unless the test closed it
            os.close(controller)


# ------------------------------------------------------------------------------------------
# Pipes and files


@posix_only
def test_pipe_frames_fragments_then_clean_end(pipe: tuple[io.FileIO, int]) -> None:
    reader, write_fd = pipe
    mgr = BufferManager()
    os.write(write_fd, b"*ID")
    assert read_with_rule(reader, mgr, LINE) is None  # one read, no frame yet
    os.write(write_fd, b"N?\nMEAS?\n")
    with read_with_rule(reader, mgr, LINE) as frame:  # type: ignore[union-attr]
        assert frame == b"*IDN?"
    os.close(write_fd)
    assert [bytes(f) for f in iter_frames(reader, mgr, LINE)] == [b"MEAS?"]


@posix_only
def test_pipe_end_inside_a_frame_carries_the_partial_bytes(pipe: tuple[io.FileIO, int]) -> None:
    reader, write_fd = pipe
    os.write(write_fd, b"one\ntw")
    os.close(write_fd)
    mgr = BufferManager()
    with read_frame(reader, mgr, LINE) as frame:
        assert frame == b"one"
    with pytest.raises(StreamClosed) as caught:
        read_frame(reader, mgr, LINE)
    assert caught.value.partial == b"tw"
    assert len(mgr) == 2


@posix_only
def test_pipe_timeout_keeps_the_partial_frame(pipe: tuple[io.FileIO, int]) -> None:
    reader, write_fd = pipe
    mgr = BufferManager()
    os.write(write_fd, b"hal")
    with pytest.raises(TimeoutError):
        read_frame(reader, mgr, LINE, timeout=0.02)
    assert len(mgr) == 3
    os.write(write_fd, b"f\n")
    with read_frame(reader, mgr, LINE, timeout=5) as frame:
        assert frame == b"half"


@posix_only
def test_non_blocking_pipe_with_nothing_to_read_gives_none(pipe: tuple[io.FileIO, int]) -> None:
    reader, write_fd = pipe
    os.set_blocking(reader.fileno(), False)
    mgr = BufferManager()
    assert read_with_rule(reader, mgr, LINE) is None  # readinto returned None: would block
    assert not mgr.at_eof
    with pytest.raises(TimeoutError):
        read_frame(reader, mgr, LINE, timeout=0.02)  # waits on the descriptor
    os.write(write_fd, b"ready\n")
    with read_frame(reader, mgr, LINE) as frame:  # waits on the descriptor, no deadline
        assert frame == b"ready"
    assert read_with_rule(reader, mgr, LINE) is None


def test_buffered_reader_makes_one_read_not_one_per_buffer_size() -> None:
    # open(..., "rb") and makefile("rb") are buffered; readinto() would wait to fill the whole
    # reservation (here: the socket timeout), readinto1() returns what one read gives.
    left, right = socket.socketpair()
    with left, right, right.makefile("rb") as stream:
        right.settimeout(5)
        left.sendall(b"quick\n")
        with read_with_rule(stream, BufferManager(), LINE) as frame:  # type: ignore[union-attr]
            assert frame == b"quick"


def test_socket_makefile_timeout_is_a_timeout_error() -> None:
    left, right = socket.socketpair()
    with left, right, right.makefile("rb", buffering=0) as stream:
        right.settimeout(0.01)
        left.sendall(b"par")
        mgr = BufferManager()
        assert read_with_rule(stream, mgr, LINE) is None
        with pytest.raises(TimeoutError):
            read_with_rule(stream, mgr, LINE)
        assert len(mgr) == 3


def test_regular_file_yields_every_line_and_the_partial_tail() -> None:
    lines = [b"line %d" % i for i in range(500)]
    with tempfile.TemporaryFile() as file:
        file.write(b"\n".join(lines) + b"\nno newline")
        file.seek(0)
        mgr = BufferManager(read_size=1000)  # many reads, lines split across them
        got = []
        with pytest.raises(StreamClosed) as caught:
            got.extend(iter_payloads(file, mgr, LINE))
    assert got == lines
    assert caught.value.partial == b"no newline"


def test_bytesio_without_a_descriptor_still_honours_a_deadline() -> None:
    mgr = BufferManager()
    stream = io.BytesIO(b"first\nsecond")
    with read_frame(stream, mgr, LINE, timeout=5) as frame:
        assert frame == b"first"
    with pytest.raises(StreamClosed) as caught:
        read_frame(stream, mgr, LINE, timeout=5)
    assert caught.value.partial == b"second"


class _RecordingRaw(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.buffers: list[tuple[type, object]] = []

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self.buffers.append((type(buffer), buffer.obj))
        size = min(len(buffer), len(self.data))
        buffer[:size] = self.data[:size]
        self.data = self.data[size:]
        return size


def test_readinto_writes_straight_into_the_managed_buffer() -> None:
    source = _RecordingRaw(b"zero-copy\n")
    with read_with_rule(source, BufferManager(), LINE) as frame:  # type: ignore[union-attr]
        assert frame == b"zero-copy"
    ((kind, underlying),) = source.buffers
    assert kind is memoryview
    # The manager's own buffer, no bytes in between: its bytearray (pure core) or its own
    # exporter (compiled core).
    assert isinstance(underlying, bytearray) or type(underlying).__module__ == "streamframer"


class _ScriptedRaw(io.RawIOBase):
    """Raises the scripted exceptions from readinto, in turn, then delivers ``data``."""

    def __init__(self, errors: list[OSError], data: bytes) -> None:
        self.errors = errors
        self.data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.errors:
            raise self.errors.pop(0)
        size = min(len(buffer), len(self.data))
        buffer[:size] = self.data[:size]
        self.data = self.data[size:]
        return size


def test_blocking_io_error_from_readinto_is_would_block() -> None:
    source = _ScriptedRaw([BlockingIOError(errno.EAGAIN, "try again")], b"later\n")
    mgr = BufferManager()
    assert read_with_rule(source, mgr, LINE) is None
    assert len(mgr) == 0
    with read_with_rule(source, mgr, LINE) as frame:  # type: ignore[union-attr]
        assert frame == b"later"


def test_eio_from_something_else_than_a_terminal_propagates() -> None:
    source = _ScriptedRaw([OSError(errno.EIO, "Input/output error")], b"")
    mgr = BufferManager()
    with pytest.raises(OSError, match="Input/output error"):
        read_with_rule(source, mgr, LINE)
    assert not mgr.at_eof


def test_a_source_that_cannot_be_read_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="recv_into"):
        read_with_rule(object(), BufferManager(), LINE)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# Pseudo-terminals


@posix_only
def test_pty_device_end_frames_what_the_controller_writes(pty_pair: tuple[int, io.FileIO]) -> None:
    controller, device = pty_pair
    mgr = BufferManager()
    os.write(controller, b"$GPGGA,1\r\n$GP")
    with read_frame(device, mgr, until_delim(b"\r\n"), timeout=5) as frame:
        assert frame == b"$GPGGA,1"
    with pytest.raises(TimeoutError):
        read_frame(device, mgr, until_delim(b"\r\n"), timeout=0.02)
    assert len(mgr) == 3  # b"$GP" kept
    os.write(controller, b"VTG\r\n")
    with read_frame(device, mgr, until_delim(b"\r\n"), timeout=5) as frame:
        assert frame == b"$GPVTG"


@posix_only
def test_pty_controller_closing_ends_the_device_stream(pty_pair: tuple[int, io.FileIO]) -> None:
    controller, device = pty_pair
    os.write(controller, b"last\npart")
    mgr = BufferManager()
    with read_frame(device, mgr, LINE, timeout=5) as frame:
        assert frame == b"last"
    os.close(controller)  # a hangup: the device end reads as ended
    with pytest.raises(StreamClosed) as caught:
        read_frame(device, mgr, LINE, timeout=5)
    assert caught.value.partial == b"part"


@posix_only
def test_pty_controller_reads_eio_as_the_end_of_the_stream() -> None:
    controller_fd, device_fd = os.openpty()
    tty.setraw(device_fd)
    with os.fdopen(controller_fd, "rb", buffering=0) as controller:
        os.write(device_fd, b"bye\n")
        os.close(device_fd)  # Linux: reading the controller now fails with EIO
        assert list(iter_payloads(controller, BufferManager(), LINE)) == [b"bye"]


@posix_only
def test_pyserial_on_a_pty_times_out_with_nothing_lost(pty_pair: tuple[int, io.FileIO]) -> None:
    controller, device = pty_pair
    # The port's timeout long enough for a loaded machine to deliver the 8 bytes written.
    port = serial.Serial(os.ttyname(device.fileno()), timeout=0.2)
    try:
        mgr = BufferManager()
        os.write(controller, b"VOLT 1.2")
        with pytest.raises(TimeoutError, match="serial read returned no bytes"):
            read_frame(port, mgr, LINE)
        assert len(mgr) == 8
        os.write(controller, b"5\n")
        with read_frame(port, mgr, LINE) as frame:
            assert frame == b"VOLT 1.25"
    finally:
        port.close()


# ------------------------------------------------------------------------------------------
# pyserial's loop:// port


def test_serial_timeout_is_a_timeout_error_and_loses_nothing() -> None:
    port = serial.serial_for_url("loop://", timeout=0.01)
    mgr = BufferManager()
    port.write(b"*IDN?\nMEAS")
    with read_frame(port, mgr, LINE) as frame:
        assert frame == b"*IDN?"
    with pytest.raises(TimeoutError):
        read_with_rule(port, mgr, LINE)
    assert not mgr.at_eof
    assert len(mgr) == 4
    port.write(b"?\n")
    with read_frame(port, mgr, LINE) as frame:
        assert frame == b"MEAS?"


def test_serial_read_asks_only_for_what_is_waiting() -> None:
    # pyserial's read(n) waits for all n bytes: asking for a whole reservation would stall
    # every frame until the port's timeout.
    class RecordingLoop(LoopSerial):  # type: ignore[misc]
        sizes: ClassVar[list[int]] = []

        def read(self, size: int = 1) -> bytes:
            self.sizes.append(size)
            data: bytes = super().read(size)
            return data

    port = RecordingLoop("loop://", timeout=5)
    mgr = BufferManager()
    port.write(b"ab\ncd\n")
    with read_with_rule(port, mgr, LINE) as frame:  # type: ignore[union-attr]
        assert frame == b"ab"
    assert port.sizes == [6]
    with read_with_rule(port, mgr, LINE) as frame:  # type: ignore[union-attr]
        assert frame == b"cd"  # already buffered: no read
    assert port.sizes == [6]


def test_serial_non_blocking_gives_none() -> None:
    port = serial.serial_for_url("loop://", timeout=0)
    mgr = BufferManager()
    assert read_with_rule(port, mgr, LINE) is None
    port.write(b"ok\n")
    with read_with_rule(port, mgr, LINE) as frame:  # type: ignore[union-attr]
        assert frame == b"ok"


def test_serial_cancel_read_interrupts_a_blocking_read() -> None:
    port = serial.serial_for_url("loop://", timeout=None)
    port.cancel_read()  # what another thread would call to stop a blocking read
    mgr = BufferManager()
    with pytest.raises(TimeoutError):
        read_frame(port, mgr, LINE)
    assert not mgr.at_eof


def test_serial_deadline_without_a_descriptor_is_checked_between_reads() -> None:
    port = serial.serial_for_url("loop://", timeout=0)  # non-blocking, nothing to wait on
    mgr = BufferManager()
    port.write(b"par")
    with pytest.raises(TimeoutError, match="3 bytes buffered"):
        read_frame(port, mgr, LINE, timeout=0.02)
