"""The package's error tree.

Every error streamframer raises on purpose derives from :class:`StreamFramerError`, so one
``except`` clause catches them all. Bad arguments to constructors and functions stay
``ValueError``/``TypeError``, and timeouts stay the stdlib ``TimeoutError``.

No error loses data: whatever was buffered when an error was raised is still in the
:class:`~streamframer.BufferManager` afterwards, ready to be inspected, discarded or read on.
"""

from __future__ import annotations

import io

__all__ = [
    "FrameDiscarded",
    "FrameLifecycleError",
    "FrameTooLarge",
    "FramingError",
    "ReadOnlySource",
    "StreamClosed",
    "StreamFramerError",
]


class StreamFramerError(Exception):
    """Base class of every error streamframer raises on purpose."""


class FrameTooLarge(StreamFramerError):
    """Raised when a frame cannot fit within the manager's ``max_size``.

    That happens when the buffer holds ``max_size`` bytes and the rule still needs more, when a rule
    finds a frame longer than ``max_size``, or when a length header declares one (checked before
    the body is awaited). It is the peer's fault, or a limit set too low.

    It is raised once. The buffered bytes stay in the manager for inspection, and reading again
    raises :class:`FrameLifecycleError` until you recover: ``mgr.clear()`` drops everything,
    ``mgr.discard(n)`` drops the first ``n`` bytes, or a larger ``mgr.max_size`` lets the frame
    complete. (A manager with ``on_overflow="discard"`` recovers by itself.)
    """

    def __init__(self, limit: int, size: int) -> None:
        super().__init__(f"frame of at least {size} bytes exceeds max_size={limit}")
        #: The manager's ``max_size`` when the error was raised.
        self.limit = limit
        #: The frame size known so far: the buffered bytes, or the size a header declared.
        self.size = size


class FrameDiscarded(FrameTooLarge):
    """Raised once after a manager with ``on_overflow="discard"`` dropped an oversized frame.

    ``size`` is the number of bytes dropped. Nothing else was lost: the next read carries on
    with the frame after it. Being a :class:`FrameTooLarge`, it is caught where that is.
    """

    def __init__(self, limit: int, size: int) -> None:
        super().__init__(limit, size)
        self.args = (f"discarded a frame of {size} bytes exceeding max_size={limit}",)


class FramingError(StreamFramerError):
    """Raised by a rule when the buffered bytes cannot be a valid frame (a malformed header).

    It is the peer's fault (or the wrong rule for the stream). The bytes stay in the manager;
    ``offset`` is where the trouble starts, counted from the first unconsumed byte.
    """

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        #: Index of the offending byte, counted from the first unconsumed byte.
        self.offset = offset


class FrameLifecycleError(StreamFramerError):
    """Raised when a frame or the buffer is used out of order: the caller's fault.

    Examples: reading again while a frame is outstanding, using or consuming a frame after
    ``consume()``, or consuming while a slice of ``frame.view`` (or a ``BufferManager.view()``)
    is still alive. Nothing is changed when it is raised: release the view, consume the
    frame, and carry on.
    """


class StreamClosed(StreamFramerError, EOFError):
    """Raised when the stream ended: the peer closed it, or ``feed_eof()`` was called.

    ``partial`` holds the unconsumed bytes (a copy; they also stay in the manager). It is empty on
    a clean close, between frames; non-empty means the stream ended inside a frame.
    """

    def __init__(self, partial: bytes) -> None:
        if partial:
            message = (
                f"stream closed inside a frame: {len(partial)} bytes left, {_preview(partial)}"
            )
        else:
            message = "stream closed cleanly, between frames"
        super().__init__(message)
        #: The unconsumed bytes at the end of the stream (empty on a clean close).
        self.partial = partial


class ReadOnlySource(StreamFramerError, io.UnsupportedOperation):
    """Raised by ``send()``, ``query()`` and ``write()`` on a source opened for reading only:
    the caller's fault. A regular file opens that way (replaying a capture), so that nothing
    sent can overwrite it; nothing is written when it is raised.

    Being an ``io.UnsupportedOperation``, it is also an ``OSError`` and a ``ValueError``.
    """


def _preview(data: bytes, limit: int = 32) -> str:
    """``data`` as a repr, cut to ``limit`` bytes so messages stay readable."""
    if len(data) <= limit:
        return repr(data)
    return f"{data[:limit]!r}..."
