"""The way back out: a payload encoded by the rule, and every byte of it written.

Shared by the blocking :class:`~streamframer.Framed`, the asyncio writer and the anyio adapter.
Encoding is the rule's job (``rule.encode(payload, **kw) -> bytes``, offered by every built-in
rule and by any custom rule that chooses to); the adapters only check it is there.
"""

from __future__ import annotations

import select
import socket
from typing import Any, Callable, Protocol, Union, cast

from ._socket import _reraise_timeout

__all__ = ["BytesLike", "Encoder", "encode_with", "write_all"]

BytesLike = Union[bytes, bytearray, memoryview]


class Encoder(Protocol):
    """What ``encoder=`` takes: an object with ``encode(payload, **options) -> bytes`` (the
    options are the encoder's own: a rule's header bytes, say)."""

    @property
    def encode(self) -> Callable[..., bytes]: ...


def encode_with(rule: object, payload: object, encode_kw: dict[str, Any]) -> bytes:
    """``payload`` as the bytes of one frame of ``rule``: ``rule.encode(payload, **encode_kw)``.

    ``rule`` is the rule or the ``encoder=`` given. One without ``encode`` is a ``TypeError``
    saying how to send anyway; what the encoder
    refuses (a delimiter inside the payload, a length that does not fit) is its ``ValueError``.
    """
    encode = getattr(rule, "encode", None)
    if encode is None:
        raise TypeError(
            f"rule {rule!r} has no encode(): give it an encode(payload) method, or send the "
            "frame's bytes as they are (write(), or an anyio stream's own send())"
        )
    return cast(Callable[..., bytes], encode)(payload, **encode_kw)


def write_all(sink: object, data: BytesLike) -> None:
    """Write every byte of ``data`` to ``sink``: ``sendall`` for a socket, otherwise ``write``
    until all of it is taken, then ``flush`` (a serial port or a buffered file keeps bytes
    back until flushed).

    A socket's timeout raises ``TimeoutError``, as reads do. A non-blocking file that takes
    nothing now (``write`` returns ``None``) is waited on until it can take more.
    """
    sendall = getattr(sink, "sendall", None)
    if sendall is not None:
        try:
            sendall(data)
        except socket.timeout as exc:
            _reraise_timeout(exc)
        return
    write = getattr(sink, "write", None)
    if write is None:
        raise TypeError(f"cannot write to {type(sink).__name__}: a sink needs sendall() or write()")
    view = memoryview(data).cast("B")
    # A raw file (an unbuffered pty or pipe end) may take only part of a write.
    while view:
        written: int | None = write(view)
        if written is None:
            _wait_writable(sink)
            continue
        view = view[written:]
    flush = getattr(sink, "flush", None)
    if flush is not None:
        flush()


def _wait_writable(sink: Any) -> None:
    fd = sink.fileno()
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        poller.poll()
    else:  # pragma: no cover - Windows
        select.select([], [fd], [])
