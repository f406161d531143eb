"""Reading frames from sockets: blocking, with a timeout, non-blocking, or TLS.

The functions here only move bytes from a source into a :class:`BufferManager` and ask it for
frames; all framing happens in the manager and the rule. Every read goes through the manager's
one per-read entry point, ``mgr._fill(read_into)``, which both cores provide: it hands
``read_into`` a view of its spare capacity and keeps the count returned. A source is anything with
``recv_into(buffer)`` (preferred: the bytes land in the managed buffer without a copy) or
``recv(n)``: ``socket.socket``, ``ssl.SSLSocket``, ``socket.socketpair()`` ends, or a test double;
or a file-like object with ``readinto`` (serial ports, pipes, pty ends, files: see ``_stream``).

Semantics, the stdlib's own:

* A complete frame already buffered is returned without touching the source.
* A blocking read that times out raises ``TimeoutError`` (the socket's timeout, never changed
  here); the buffered bytes stay and the next call resumes where this one stopped.
* A non-blocking source with nothing to read (``BlockingIOError``, ``ssl.SSLWantReadError``)
  gives ``None``.
* End of stream raises :class:`StreamClosed` (an ``EOFError``) with the unconsumed bytes.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Callable, NoReturn, Protocol, Union, cast

from .._core import compiled_loop
from .._errors import StreamClosed
from ._checks import timeout_arg
from ._endpoint import wait_readable
from ._stream import ReadsInto, receive_from_stream, stream_blocks, stream_fileno

if TYPE_CHECKING:
    from .._core import BufferManager, Frame
    from .._rules import Rule

try:
    import ssl
except ImportError:  # pragma: no cover - Python built without OpenSSL
    _WOULD_BLOCK: tuple[type[Exception], ...] = (BlockingIOError,)
else:
    _WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)

__all__ = [
    "Source",
    "iter_frames",
    "iter_payloads",
    "read_frame",
    "read_with_rule",
    "readable_now",
]


class _ReceivesInto(Protocol):
    def recv_into(self, buffer: memoryview, nbytes: int = ..., flags: int = ...) -> int: ...


class _Receives(Protocol):
    def recv(self, bufsize: int, flags: int = ...) -> bytes: ...


#: What the read functions accept: an object with ``recv_into``, ``recv`` or ``readinto``.
Source = Union[_ReceivesInto, _Receives, ReadsInto]


if sys.version_info >= (3, 10):
    _timeout_error = TimeoutError
else:  # pragma: no cover - exercised on 3.9 only

    class _timeout_error(socket.timeout, TimeoutError):
        """On 3.9 socket.timeout is not yet TimeoutError: raise something that is both."""


def _receive(sock: Source, mgr: BufferManager) -> bool:
    """Read once into ``mgr``. True if bytes arrived or the stream ended (then ``mgr`` knows it),
    False if a non-blocking source had nothing to read."""
    if mgr.at_eof:
        return True
    try:
        recv_into = getattr(sock, "recv_into", None)
        if recv_into is not None:
            received = mgr._fill(recv_into)
        elif hasattr(sock, "recv"):
            received = mgr._fill(_copying_reader(cast(_Receives, sock)))
        elif hasattr(sock, "readinto"):
            return receive_from_stream(cast(ReadsInto, sock), mgr)
        else:
            raise TypeError(
                f"cannot read from {type(sock).__name__}: a source needs recv_into(), recv() "
                "or readinto()"
            )
    except Exception as exc:
        return _read_failed(exc)
    if received is None:
        return False
    if not received:
        mgr.feed_eof()
    return True


def _read_failed(exc: Exception) -> bool:
    """What a read that raised ``exc`` means: ``False`` when a non-blocking source had nothing
    to read; a timeout is raised as ``TimeoutError``; anything else is raised as it is."""
    if isinstance(exc, _WOULD_BLOCK):
        return False
    if isinstance(exc, socket.timeout):
        _reraise_timeout(exc)
    raise exc


def _copying_reader(sock: _Receives) -> Callable[[memoryview], int]:
    """A ``recv_into`` for a source that only has ``recv``: one copy, into the buffer."""

    def recv_into(view: memoryview) -> int:
        data = sock.recv(len(view))
        view[: len(data)] = data
        return len(data)

    return recv_into


def _wait_and_receive(sock: Source, mgr: BufferManager) -> None:
    """Wait until ``sock`` can be read (a non-blocking source), then read once."""
    if _wait_readable(sock, None):
        _receive(sock, mgr)


@compiled_loop(0, _receive, _read_failed)
def read_with_rule(sock: Source, mgr: BufferManager, rule: Rule) -> Frame | None:
    """Return the next frame, reading from ``sock`` at most once.

    A frame already buffered is returned without touching ``sock``. Otherwise one read is made;
    the result is ``None`` if that read delivered bytes but no complete frame, or if a
    non-blocking ``sock`` had nothing to read. Timeouts raise ``TimeoutError`` with nothing lost;
    the end of the stream raises :class:`StreamClosed`; ``max_size`` reached raises
    :class:`FrameTooLarge`.
    """
    frame = mgr.next_frame(rule)
    if frame is None and _receive(sock, mgr):
        frame = mgr.next_frame(rule)
    return frame


def read_frame(sock: Source, mgr: BufferManager, rule: Rule, timeout: float | None = None) -> Frame:
    """Wait for one complete frame, across as many reads as it takes.

    ``timeout`` bounds the whole wait (``None``: no bound beyond the socket's own timeout). On
    expiry ``TimeoutError`` is raised and every byte received so far stays buffered, so calling
    again resumes. Waiting uses ``select`` on ``sock.fileno()``, so a non-blocking socket is not
    spun on; a source without ``fileno()`` is read directly.
    """
    timeout = timeout_arg(timeout)
    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    first = True
    while True:
        frame = mgr.next_frame(rule)
        if frame is not None:
            return frame
        # The deadline is checked before every read but the first (timeout=0 still takes what
        # is there), so a peer that keeps trickling bytes cannot stretch the wait.
        expired = not first and deadline is not None and time.monotonic() >= deadline
        first = False
        if expired or not _wait_readable(sock, deadline):
            raise _timeout_error(
                f"no complete frame within {timeout} s ({len(mgr)} bytes buffered)"
            )
        try:
            _receive(sock, mgr)
        except TimeoutError as exc:  # the source's own: say how long it was, and what is here
            waited = time.monotonic() - started
            raise _timeout_error(
                f"no complete frame after {waited:.3g} s: the source's own timeout expired "
                f"({len(mgr)} bytes buffered): {exc}"
            ) from None


@compiled_loop(1, _wait_and_receive)
def iter_frames(sock: Source, mgr: BufferManager, rule: Rule) -> Iterator[Frame]:
    """Yield frames until the stream ends; each is consumed when the loop asks for the next.

    Ends cleanly when the peer closes between frames; raises :class:`StreamClosed` (with
    ``.partial``) when it closes inside one. A frame you keep past its iteration step is gone:
    copy it (``bytes(frame)``). Leaving the loop early leaves the current frame to you.
    """
    while True:
        try:
            frame = mgr.next_frame(rule)
            if frame is None:
                _wait_and_receive(sock, mgr)
                continue
        except StreamClosed as exc:
            if exc.partial:
                raise
            return
        yield frame
        if not frame.consumed:
            frame.consume()


@compiled_loop(2, _wait_and_receive)
def iter_payloads(sock: Source, mgr: BufferManager, rule: Rule) -> Iterator[bytes]:
    """Yield each frame's payload as ``bytes`` until the stream ends: the batch path.

    Every frame buffered after a read is taken at once (:meth:`BufferManager.drain`), so small
    frames cost a fraction of what ``iter_frames`` costs, at the price of one copy each. Ends and
    raises like :func:`iter_frames`.
    """
    while True:
        try:
            payloads = mgr.drain(rule)
            if not payloads:
                _wait_and_receive(sock, mgr)
                continue
        except StreamClosed as exc:
            if exc.partial:
                raise
            return
        yield from payloads


def _reraise_timeout(exc: OSError) -> NoReturn:
    """Raise a read's timeout as ``TimeoutError`` (on 3.9 ``socket.timeout`` is not one yet)."""
    if _timeout_error is TimeoutError:
        raise exc
    raise _timeout_error(*exc.args) from None  # pragma: no cover - 3.9 only


def _wait_readable(sock: Source, deadline: float | None) -> bool:
    """Block until ``sock`` can be read without waiting, or ``deadline`` passes (False)."""
    fileno = getattr(sock, "fileno", None)
    if fileno is None:
        return True
    pending = getattr(sock, "pending", None)
    if pending is not None and pending():
        return True  # TLS: bytes already decrypted, the raw socket may have nothing more
    gettimeout = getattr(sock, "gettimeout", None)
    if gettimeout is not None:
        if deadline is None and gettimeout() != 0.0:
            return True  # a blocking read waits by itself, under the socket's own timeout
        fd = fileno()
    else:  # a file-like source: a serial port, pipe, pty end or file
        if deadline is None and stream_blocks(sock):
            return True
        fd = stream_fileno(sock)
        if fd is None:
            return True  # nothing to wait on: read, under the source's own timeout
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    return wait_readable(fd, remaining)


def readable_now(sock: Source) -> bool:
    """Whether a read of ``sock`` returns bytes (or the end) without waiting; False when that
    cannot be known (a source without a descriptor to ask)."""
    pending = getattr(sock, "pending", None)
    if pending is not None and pending():
        return True
    if hasattr(sock, "gettimeout") and hasattr(sock, "fileno"):
        fd: int | None = sock.fileno()
    else:
        fd = stream_fileno(sock)
    return fd is not None and wait_readable(fd, 0)
