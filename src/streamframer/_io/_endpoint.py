"""The endpoint: an opened byte stream, read like a socket or a raw file, written in full.

:func:`~._endpoints.open_endpoint` opens one from an address.
"""

from __future__ import annotations

import abc
import select
from types import TracebackType
from typing import Union

from ._checks import timeout_arg

__all__ = ["Endpoint", "wait_readable"]

_Buffer = Union[bytearray, memoryview]


class Endpoint(abc.ABC):
    """An opened byte stream, from :func:`open_endpoint`; ``with`` closes it.

    Reads wait up to the timeout for the first byte, then return what has arrived (0 at the end
    of the stream); writes send everything. ``settimeout``, ``gettimeout``, ``fileno`` and
    ``pending`` are the socket methods the read functions use to wait with a deadline.
    """

    __slots__ = ("_timeout", "address")

    #: Whether :meth:`send` writes (False for a regular file, opened for reading only).
    writable = True

    def __init__(self, address: str, timeout: float | None) -> None:
        #: The address it was opened from.
        self.address = address
        self._timeout = timeout

    @abc.abstractmethod
    def recv_into(self, buffer: _Buffer, nbytes: int = 0, flags: int = 0) -> int:
        """Read up to ``nbytes`` (default: the buffer's size) into ``buffer``; 0 at the end."""

    def readinto(self, buffer: _Buffer) -> int:
        """Read into ``buffer``, as :meth:`recv_into` does."""
        return self.recv_into(buffer)

    @abc.abstractmethod
    def send(self, data: bytes) -> int:
        """Write all of ``data`` (blocking until it is written); return ``len(data)``."""

    def write(self, data: bytes) -> int:
        """Write all of ``data``, as :meth:`send` does."""
        return self.send(data)

    @abc.abstractmethod
    def close(self) -> None:
        """Close the stream; closing again does nothing."""

    @abc.abstractmethod
    def fileno(self) -> int:
        """The descriptor to wait on before a read."""

    def gettimeout(self) -> float | None:
        """Seconds a read waits for its first byte (``None``: for ever)."""
        return self._timeout

    def settimeout(self, timeout: float | None) -> None:
        """Change how long a read waits for its first byte (``None``: for ever)."""
        self._timeout = timeout_arg(timeout)

    def pending(self) -> int:
        """Bytes already received and decrypted that a read returns without waiting (TLS)."""
        return 0

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address!r}>"


def wait_readable(fd: int, seconds: float | None) -> bool:
    """Wait up to ``seconds`` (``None``: for ever, 0: not at all) until a read of ``fd`` would
    return without waiting; whether it would."""
    if hasattr(select, "poll"):  # no FD_SETSIZE limit: servers have more than 1024 sockets
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(None if seconds is None else seconds * 1000))
    readable, _, _ = select.select([fd], [], [], seconds)  # pragma: no cover - Windows
    return bool(readable)
