"""Framed: one blocking connection in both directions, the rule framing what comes in and
encoding what goes out; connect() opens one from an address.

Reading is the read functions of ``_socket`` over the connection's own manager; writing is
``rule.encode`` and a write of every byte. Nothing here buffers: a frame that is not complete
yet, a reply that arrives after its ``query()`` timed out, bytes behind a frame you hold, all
live in the manager, so no error and no timeout loses a byte, and the next read carries on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .._core import BufferManager
from ._endpoints import open_endpoint
from ._socket import Source, iter_frames, read_frame
from ._writes import BytesLike, encode_with, write_all

if TYPE_CHECKING:
    from .._core import Frame
    from .._rules import Rule

__all__ = ["Framed", "connect"]


class Framed:
    """A connection that reads frames and sends payloads through one rule, blocking.

    ``source`` is a socket, an ``ssl.SSLSocket``, or a file-like object with ``readinto`` and
    ``write`` (a pyserial ``Serial``, an unbuffered pty or device opened ``"r+b"``). ``rule``
    frames what arrives and encodes what :meth:`send` is given (``rule.encode``); ``manager``
    defaults to a new ``BufferManager()``. Both are attributes, and ``rule`` may be changed
    between frames. :func:`streamframer.connect` opens one from a URL.

    Timeouts follow the source: its own timeout bounds each read and write (never changed
    here), and ``timeout=`` on :meth:`read_frame` and :meth:`query` bounds the whole wait.
    A timeout raises ``TimeoutError`` with every received byte still buffered.
    """

    __slots__ = ("_source", "manager", "rule")

    def __init__(self, source: Source, rule: Rule, *, manager: BufferManager | None = None) -> None:
        if not any(hasattr(source, name) for name in ("recv_into", "recv", "readinto")):
            raise TypeError(
                f"cannot read from {type(source).__name__}: a source needs recv_into(), recv() "
                "or readinto()"
            )
        _check_rule_and_manager(rule, manager)
        self._source = source
        #: The rule that frames what arrives and encodes what is sent.
        self.rule = rule
        #: The connection's :class:`BufferManager`: its limits, policies and buffered bytes.
        self.manager = BufferManager() if manager is None else manager

    @property
    def source(self) -> Source:
        """The socket or file this connection reads and writes (its timeout, options)."""
        return self._source

    def send(self, payload: object, **encode_kw: Any) -> None:
        """Encode ``payload`` as one frame of the rule (``rule.encode(payload, **encode_kw)``)
        and write all of it. A payload the rule cannot frame is its ``ValueError``; nothing
        is written then."""
        write_all(self._source, encode_with(self.rule, payload, encode_kw))

    def write(self, data: BytesLike) -> None:
        """Write ``data`` as it is, all of it: bytes that are not one frame of the rule."""
        write_all(self._source, data)

    def read_frame(self, timeout: float | None = None, *, rule: Rule | None = None) -> Frame:
        """Wait for the next frame and return it; consuming it is yours (``with frame:``).

        ``timeout`` bounds the whole wait: ``TimeoutError``, nothing lost, the next call
        resumes. ``rule`` frames this one frame instead of :attr:`rule` (a protocol that
        switches framing). The end of the stream raises :class:`~streamframer.StreamClosed`,
        with ``.partial`` holding an unfinished frame.
        """
        return read_frame(self._source, self.manager, self.rule if rule is None else rule, timeout)

    def query(self, payload: object, timeout: float | None = None, **encode_kw: Any) -> bytes:
        """Send ``payload`` (as :meth:`send`), then return the next frame's payload, copied and
        consumed.

        The reply is the next frame to arrive: consume a frame you hold first (otherwise
        :class:`~streamframer.FrameLifecycleError`, after sending). ``timeout`` bounds the wait
        for the reply; on expiry ``TimeoutError`` is raised and a reply that comes later is
        not lost: it is the next frame :meth:`read_frame` (or the next ``query``) returns.
        """
        self.send(payload, **encode_kw)
        with self.read_frame(timeout) as frame:
            return frame.tobytes()

    def __iter__(self) -> Iterator[Frame]:
        """Frames until the stream ends, each consumed when the loop asks for the next (copy
        what you keep). Ends quietly when the peer closes between frames; raises
        :class:`~streamframer.StreamClosed` with ``.partial`` when it closes inside one."""
        return iter_frames(self._source, self.manager, self.rule)

    def close(self) -> None:
        """Close the source. Buffered bytes stay readable in :attr:`manager`."""
        close = getattr(self._source, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Framed:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Framed {self.rule!r} on {self._source!r}, {len(self.manager)} bytes buffered>"


def connect(
    address: str,
    rule: Rule,
    *,
    timeout: float | None = None,
    baud: int | None = None,
    cafile: str | None = None,
    insecure: bool = False,
    manager: BufferManager | None = None,
) -> Framed:
    """Open ``address`` for reading and writing and return a :class:`Framed` over it.

    The addresses the ``streamframer`` command opens: ``tcp://host:port``; ``tls://host:port``
    (the certificate checked against the system's CAs, or ``cafile``; ``insecure=True`` checks
    nothing); a serial device with ``baud`` (pyserial); ``-`` (standard input and output); any
    other path, opened for reading and writing (a pty, a character device, a FIFO).

    ``timeout`` bounds connecting and each read of the connection (``None``: no bound);
    ``read_frame(timeout=...)`` and ``query(timeout=...)`` bound a whole wait on top of it. A bad
    address or option is a ``ValueError`` before anything is opened; failing to open is the
    ``OSError`` of the step that failed (``ConnectionRefusedError``,
    ``ssl.SSLCertVerificationError``, ``FileNotFoundError``, ``TimeoutError``, ...).
    """
    _check_rule_and_manager(rule, manager)
    endpoint = open_endpoint(
        address, timeout=timeout, baud=baud, cafile=cafile, insecure=insecure, writable=True
    )
    return Framed(endpoint, rule, manager=manager)


def _check_rule_and_manager(rule: object, manager: object) -> None:
    if not callable(rule):
        raise TypeError(f"rule must be callable, not {type(rule).__name__}")
    if manager is not None and not isinstance(manager, BufferManager):
        raise TypeError(f"manager must be a BufferManager, not {type(manager).__name__}")
