"""Framed: one blocking connection in both directions, the rule framing what comes in and
encoding what goes out; connect() opens one from an address.

Reading is the read functions of ``_socket`` over the connection's own manager; writing is
``encoder.encode`` (the rule's own by default) and a write of every byte. Nothing here buffers:
a frame that is not complete yet, bytes behind a frame you hold, all live in the manager, so no
error and no timeout loses a byte, and the next read carries on.

A reply that comes after its ``query()`` timed out is the one exception to "the next frame is
the next answer": the connection remembers that a reply is owed, and the next ``query()`` drops
stale input first (:meth:`Framed.reset_input_buffer`), so that a late reply never silently
becomes the answer to the next question. ``read_frame()`` still returns it, for a program that
wants it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .._core import BufferManager
from ._checks import encoder_arg, rule_arg, timeout_arg
from ._endpoints import open_endpoint
from ._hints import hint
from ._socket import Source, _receive, iter_frames, read_frame, readable_now
from ._writes import BytesLike, Encoder, encode_with, write_all

if TYPE_CHECKING:
    from .._core import Frame
    from .._rules import Rule

# reset_input_buffer() stops after this much from a source that never pauses: call it again.
_RESET_LIMIT = 16 * 1024 * 1024

__all__ = ["Framed", "connect"]


class Framed:
    """A connection that reads frames and sends payloads through one rule, blocking.

    ``source`` is a socket, an ``ssl.SSLSocket``, or a file-like object with ``readinto`` and
    ``write`` (a pyserial ``Serial``, an unbuffered pty or device opened ``"r+b"``). ``rule``
    frames what arrives; ``encoder`` (anything with ``encode(payload, **options)``, usually a
    rule such as ``until_delim(b"\\r")``) encodes what :meth:`send` and :meth:`query` are given,
    and defaults to the rule itself. ``manager`` defaults to a new ``BufferManager()``. All
    three are attributes, and may be changed between frames. :func:`streamframer.connect`
    opens one from an address.

    Timeouts follow the source: its own timeout bounds each read and write (never changed
    here), and ``timeout=`` on :meth:`read_frame` and :meth:`query` bounds the whole wait.
    A timeout raises ``TimeoutError`` with every received byte still buffered.
    """

    __slots__ = ("_owed", "_source", "encoder", "manager", "rule")

    def __init__(
        self,
        source: Source,
        rule: Rule,
        *,
        manager: BufferManager | None = None,
        encoder: Encoder | None = None,
    ) -> None:
        if not any(hasattr(source, name) for name in ("recv_into", "recv", "readinto")):
            raise TypeError(
                f"cannot read from {type(source).__name__}: a source needs recv_into(), recv() "
                "or readinto()"
            )
        _check_arguments(rule, manager, encoder)
        self._source = source
        #: The rule that frames what arrives (and encodes what is sent, without an encoder).
        self.rule = rule
        #: What encodes what is sent (``encoder.encode``); ``None``: the rule does.
        self.encoder = encoder
        #: The connection's :class:`BufferManager`: its limits, policies and buffered bytes.
        self.manager = BufferManager() if manager is None else manager
        self._owed = False  # a query timed out: its reply may still come

    @property
    def source(self) -> Source:
        """The socket or file this connection reads and writes (its timeout, options)."""
        return self._source

    def send(self, payload: object, **encode_kw: Any) -> None:
        """Encode ``payload`` as one frame (``encoder.encode(payload, **encode_kw)``, the rule's
        own without an encoder) and write all of it. A payload it cannot frame is its
        ``ValueError``; nothing is written then. A source opened for reading only (a regular
        file) raises :class:`~streamframer.ReadOnlySource`."""
        self._write(self._encode(payload, encode_kw))

    def _encode(self, payload: object, encode_kw: dict[str, Any]) -> bytes:
        encoder = self.encoder
        return encode_with(self.rule if encoder is None else encoder, payload, encode_kw)

    def _write(self, data: BytesLike) -> None:
        write_all(self._source, data)  # an endpoint opened read-only raises ReadOnlySource

    def write(self, data: BytesLike) -> None:
        """Write ``data`` as it is, all of it: bytes that are not one frame of the rule."""
        self._write(data)

    def read_frame(self, timeout: float | None = None, *, rule: Rule | None = None) -> Frame:
        """Wait for the next frame and return it; consuming it is yours (``with frame:``).

        ``timeout`` bounds the whole wait: ``TimeoutError``, nothing lost, the next call
        resumes. ``rule`` frames this one frame instead of :attr:`rule` (a protocol that
        switches framing). The end of the stream raises :class:`~streamframer.StreamClosed`,
        with ``.partial`` holding an unfinished frame. ``timeout=0`` takes only what is
        buffered or readable without waiting.
        """
        return read_frame(self._source, self.manager, self.rule if rule is None else rule, timeout)

    def query(self, payload: object, timeout: float | None = None, **encode_kw: Any) -> bytes:
        """Send ``payload`` (as :meth:`send`), then return the next frame's payload, copied and
        consumed.

        The reply is the next frame to arrive: consume a frame you hold first (otherwise
        :class:`~streamframer.FrameLifecycleError`, after sending). ``timeout`` bounds the wait
        for the reply; on expiry ``TimeoutError`` says how long it waited, how many bytes are
        buffered and, when nothing came back, the line ending that was sent (try another with
        ``encoder=``). A reply that comes after that is not this query's answer, nor the next
        one's: the next ``query()`` drops stale input first (:meth:`reset_input_buffer`);
        :meth:`read_frame` still returns it.
        """
        timeout = timeout_arg(timeout)
        wire = self._encode(payload, encode_kw)
        if self._owed:
            self.reset_input_buffer()
        self._write(wire)
        try:
            with read_frame(self._source, self.manager, self.rule, timeout) as frame:
                return frame.tobytes()
        except TimeoutError as exc:
            self._owed = True
            if len(self.manager):
                raise
            raise type(exc)(f"{exc}{hint(payload, wire, 0)}") from None

    def reset_input_buffer(self) -> int:
        """Drop what is buffered and what the source can give without waiting; return the
        number of bytes dropped (pyserial's name, for the same job).

        The recovery after a query timed out (the next ``query()`` does it itself), or before
        talking to an instrument that has been chattering. A source that keeps sending is read
        for at most 16 MiB per call. A source without a descriptor to ask (``io.BytesIO``, a
        test double) loses only what is buffered. An outstanding frame (not consumed) is
        :class:`~streamframer.FrameLifecycleError`, as for ``manager.clear()``.
        """
        mgr = self.manager
        dropped = len(mgr)
        mgr.clear()
        self._owed = False
        while dropped < _RESET_LIMIT and not mgr.at_eof and readable_now(self._source):
            if not _receive(self._source, mgr):
                break
            dropped += len(mgr)
            mgr.clear()
        return dropped

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
    encoder: Encoder | None = None,
    baud: int | None = None,
    cafile: str | None = None,
    insecure: bool = False,
    manager: BufferManager | None = None,
) -> Framed:
    """Open ``address`` for reading and writing and return a :class:`Framed` over it.

    The addresses the ``streamframer`` command opens: ``tcp://host:port``, ``host:port``,
    ``[v6addr]:port``, VISA's ``TCPIP::host::port::SOCKET``; ``tls://host:port`` (the
    certificate checked against the system's CAs, or ``cafile``; ``insecure=True`` checks
    nothing); a serial device with ``baud``, or VISA's ``ASRL<device>::INSTR`` (pyserial);
    ``-`` (standard input and output); any other path, opened for reading and writing (a pty, a
    character device, a FIFO), except a regular file, opened for reading only.

    ``timeout`` bounds connecting and each read of the connection (``None``: no bound; 0: reads
    take only what is there); ``read_frame(timeout=...)`` and ``query(timeout=...)`` bound a
    whole wait on top of it. ``encoder`` encodes what is sent (see :class:`Framed`). A bad
    address or argument is a ``ValueError`` or ``TypeError`` before anything is opened; failing
    to open is the ``OSError`` of the step that failed (``ConnectionRefusedError``,
    ``ssl.SSLCertVerificationError``, ``FileNotFoundError``, ``TimeoutError``, ...).
    """
    _check_arguments(rule, manager, encoder)
    endpoint = open_endpoint(
        address, timeout=timeout, baud=baud, cafile=cafile, insecure=insecure, writable=True
    )
    return Framed(endpoint, rule, manager=manager, encoder=encoder)


def _check_arguments(rule: object, manager: object, encoder: object) -> None:
    rule_arg(rule)
    encoder_arg(encoder)
    if manager is not None and not isinstance(manager, BufferManager):
        raise TypeError(f"manager must be a BufferManager, not {type(manager).__name__}")
