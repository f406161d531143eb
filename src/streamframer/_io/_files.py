"""Paths as endpoints: files, FIFOs, pseudo-terminals, character devices, standard input and
output.

A regular file is opened for reading only, whatever ``writable`` asks: replaying a capture is
useful, and a command sent to it would overwrite its first bytes in place. Its ``send()`` raises
:class:`~streamframer.ReadOnlySource` before writing anything.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import sys

from .._errors import ReadOnlySource
from ._endpoint import Endpoint, _Buffer, wait_readable

__all__ = ["open_path", "open_standard_streams"]


class _FileEndpoint(Endpoint):
    __slots__ = ("_close_fds", "_read_fd", "_reader", "_why", "_write_fd")

    def __init__(
        self,
        address: str,
        read_fd: int,
        write_fd: int | None,
        timeout: float | None,
        *,
        close_fds: bool,
        why: str = "open it with writable=True",
    ) -> None:
        super().__init__(address, timeout)
        self._why = why
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._close_fds = close_fds
        self._reader = io.FileIO(read_fd, "rb", closefd=False)

    def recv_into(self, buffer: _Buffer, nbytes: int = 0, flags: int = 0) -> int:
        # select() takes only sockets on Windows: there a read waits for ever.
        if self._timeout is not None and os.name != "nt":
            readable = wait_readable(self._read_fd, self._timeout)
            if not readable and self._timeout == 0:  # timeout=0: only what is there
                raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
            if not readable:
                raise TimeoutError(f"no data from {self.address!r} for {self._timeout} s")
        if nbytes:
            with memoryview(buffer)[:nbytes] as part:
                received = self._reader.readinto(part)
        else:
            received = self._reader.readinto(buffer)
        if received is None:  # a non-blocking descriptor with nothing to read
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        return received

    @property
    def writable(self) -> bool:  # type: ignore[override]
        return self._write_fd is not None

    def send(self, data: bytes) -> int:
        if self._write_fd is None:
            raise ReadOnlySource(f"{self.address!r} was opened for reading only: {self._why}")
        with memoryview(data) as rest:
            while rest:
                rest = rest[os.write(self._write_fd, rest) :]
        return len(data)

    def close(self) -> None:
        if self._reader.closed:
            return
        self._reader.close()
        if self._close_fds:
            os.close(self._read_fd)

    def fileno(self) -> int:
        return self._read_fd


def open_standard_streams(timeout: float | None, writable: bool) -> Endpoint:
    # With a descriptor closed at startup, Python sets the stream to None; the descriptor's
    # number may since belong to something else, so it must not be used.
    if sys.stdin is None:
        raise OSError(errno.EBADF, "standard input is closed")
    write_fd = None
    if writable:
        if sys.stdout is None:
            raise OSError(errno.EBADF, "standard output is closed")
        sys.stdout.flush()
        write_fd = sys.stdout.fileno()
    return _FileEndpoint("-", sys.stdin.fileno(), write_fd, timeout, close_fds=False)


def open_path(path: str, timeout: float | None, writable: bool) -> Endpoint:
    regular = _is_regular_file(path)
    writable = writable and not regular
    flags = (os.O_RDWR if writable else os.O_RDONLY) | getattr(os, "O_BINARY", 0)
    # open() of a FIFO without a writer, or of a terminal waiting for its carrier, blocks
    # for as long as it likes; non-blocking, it returns at once and the first read waits.
    nonblocking = timeout is not None and hasattr(os, "O_NONBLOCK")
    if nonblocking:
        flags |= os.O_NONBLOCK
    fd = os.open(path, flags)
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if nonblocking:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    why = (
        "it is a regular file (a capture to replay): sending would overwrite it"
        if regular
        else "open it with writable=True"
    )
    return _FileEndpoint(path, fd, fd if writable else None, timeout, close_fds=True, why=why)


def _is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):  # opening says why
        return False
