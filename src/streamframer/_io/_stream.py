"""Reading from file-like sources: serial ports, pipes, pseudo-terminals, files.

A file-like source is anything with ``readinto(buffer)`` (``readinto1`` is preferred when there
is one, so a buffered reader makes a single read and never waits to fill the whole buffer):
``io.FileIO`` and ``os.fdopen(fd, "rb", buffering=0)`` (pipes, pty ends, character devices),
``open(path, "rb")``, ``io.BytesIO``, and pyserial's ``Serial``. The bytes land in the managed
buffer without an intermediate ``bytes`` object.

What a read that delivers nothing means depends on the source, and the stdlib conventions hold:

* ``readinto`` returns ``None`` or raises ``BlockingIOError``: a non-blocking source with nothing
  to read, so the read functions return ``None``.
* A serial port (pyserial's API: a class with ``in_waiting`` and ``timeout``) never ends; an empty
  read means its own read timeout expired (or ``cancel_read()`` was called), so ``TimeoutError``
  is raised with nothing lost. With ``timeout=0`` (non-blocking) an empty read gives ``None``.
  pyserial's ``read(n)`` waits for all ``n`` bytes, so only what is waiting (at least one byte)
  is asked for: a frame is returned as soon as its last byte arrives.
* Any other source returning 0 bytes has ended: :class:`StreamClosed` once the frames are taken.
  A pseudo-terminal's controlling end reports "the other end closed" as ``EIO`` on Linux; that
  is an end of stream too.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .._core import BufferManager

__all__ = ["ReadsInto", "receive_from_stream", "stream_blocks", "stream_fileno"]


class ReadsInto(Protocol):
    def readinto(self, buffer: Any, /) -> int | None: ...


def receive_from_stream(source: ReadsInto, mgr: BufferManager) -> bool:
    """Read once from a file-like ``source`` into ``mgr``: the ``readinto`` half of
    ``_socket._receive``, with the same answer (False only when nothing could be read now)."""
    serial = _is_serial(source)
    readinto = getattr(source, "readinto1", None) or source.readinto

    def read_into(view: memoryview) -> int | None:
        if serial:
            waiting: int = getattr(source, "in_waiting", 0)
            view = view[: max(waiting, 1)]  # pyserial's read(n) waits for all n bytes
        try:
            received: int | None = readinto(view)
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno != errno.EIO or not _is_tty(source):
                raise
            return 0  # the other end of the pty closed
        return received

    received = mgr._fill(read_into)
    if received is None:
        return False
    if not received:
        if serial:
            timeout = getattr(source, "timeout", None)
            if timeout == 0:
                return False
            raise TimeoutError(
                f"serial read returned no bytes within its timeout of {timeout} s "
                f"({len(mgr)} bytes buffered)"
            )
        mgr.feed_eof()
    return True


def stream_blocks(source: object) -> bool:
    """Whether a read from this file-like ``source`` waits by itself for bytes (so waiting
    first would only add a system call), rather than returning at once when none are there."""
    if _is_serial(source):
        return getattr(source, "timeout", None) != 0
    fd = stream_fileno(source)
    if fd is None:
        return True
    return os.get_blocking(fd)


def stream_fileno(source: object) -> int | None:
    """The descriptor ``select`` may wait on before reading ``source``, or ``None``.

    A buffered reader (it has ``raw``) may hold bytes its descriptor no longer shows, so it is
    read directly; so is a source whose ``fileno()`` fails (``io.BytesIO``).
    """
    fileno = getattr(source, "fileno", None)
    if fileno is None or hasattr(source, "raw"):
        return None
    try:
        fd: int = fileno()
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return None
    return fd


def _is_serial(source: object) -> bool:
    # Looked up on the class: on an instance, in_waiting is a property making a system call.
    cls = type(source)
    return hasattr(cls, "in_waiting") and hasattr(cls, "timeout")


def _is_tty(source: object) -> bool:
    try:
        return os.isatty(source.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
