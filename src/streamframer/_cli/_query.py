"""``streamframer query`` and ``streamframer send``: commands out, framed by the chosen rule.

A command is taken as the shell passes it, byte for byte (SCPI file names hold backslashes);
``--escapes`` reads ``\\xHH`` and the others, for binary payloads. It is framed by the rule's
encoder: a line gets the rule's delimiter, a length-prefixed frame its length field (and
``--header``, ``--after-length``). ``--write-term`` replaces the encoding with the command and that
terminator, for instruments that take one line ending and answer with another.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Callable

from .. import BufferManager, Rule, StreamClosed, read_frame
from .._io._endpoint import Endpoint
from .._io._hints import other_endings, sent_ending
from ._common import (
    EXIT_FRAMING,
    EXIT_IO,
    EXIT_USAGE,
    Failure,
    Meter,
    format_bytes,
    open_source,
    parse_bytes,
)
from ._common import reason as os_reason
from ._output import Output, ReaderGone, plural, preview, summary
from ._read import stream_failure

__all__ = ["command_bytes", "open_writable", "run_query", "run_send"]


def run_query(args: argparse.Namespace, rule: Rule, *, is_scpi: bool) -> int:
    """Send ``args.command``, print the reply framed by ``rule``; return the exit code."""
    output = Output("text" if args.format == "auto" else args.format)
    command = command_bytes(args, args.command)
    wire = _encode(args, rule, command)
    if args.binary is not None:
        _check_target(args.binary)  # now: after the query, the reply would be lost
    endpoint = open_writable(args)
    first_byte = bytearray()  # of the reply: b"#" starts a block

    def recv_into(view: memoryview) -> int:
        received = endpoint.recv_into(view)
        if received and not first_byte:
            first_byte.append(view[0])
        return received

    meter = Meter(recv_into)
    mgr = BufferManager(max_size=args.max_size, on_eof=args.on_eof)
    try:
        _send(endpoint.send, wire, args.source)
        with read_frame(meter, mgr, rule) as frame:
            payload = frame.tobytes()
        is_block = is_scpi and first_byte == b"#"
    except StreamClosed as exc:
        if exc.partial:
            raise stream_failure(exc, mgr, meter, args) from None
        raise Failure(EXIT_IO, "the peer closed the connection without a reply") from None
    except (TimeoutError, socket.timeout):
        raise Failure(EXIT_IO, _no_reply(args, command, wire, mgr)) from None
    except Failure:
        raise
    except Exception as exc:
        raise stream_failure(exc, mgr, meter, args) from None
    finally:
        endpoint.close()

    try:
        if args.format == "auto" and is_block:
            output.run(output.stream.write, f"IEEE 488.2 block, {summary(payload)}\n".encode())
        else:
            output.write([payload], 0)
    except ReaderGone:
        pass
    if args.binary is not None:
        if not is_block:
            raise Failure(
                EXIT_FRAMING, f"the reply is not a binary block: {args.binary} not written"
            )
        _save(args.binary, payload)
        print(f"saved {len(payload)} bytes to {args.binary}", file=sys.stderr)
    return 0


def run_send(args: argparse.Namespace, rule: Rule) -> int:
    """Send each of ``args.commands``, framed by ``rule``; read nothing; return the exit code."""
    wires = [_encode(args, rule, command_bytes(args, command)) for command in args.commands]
    endpoint = open_writable(args)
    try:
        for wire in wires:
            _send(endpoint.send, wire, args.source)
    finally:
        endpoint.close()
    return 0  # silent, like cp: the exit code says it was sent


def open_writable(args: argparse.Namespace) -> Endpoint:
    """The endpoint to send to; a regular file (opened for reading only, so that nothing
    overwrites it) is a usage error, before anything is sent."""
    endpoint = open_source(args, writable=True)
    if not endpoint.writable:
        endpoint.close()
        raise Failure(
            EXIT_USAGE,
            f"{args.source!r} is a regular file, opened for reading only (a capture to replay "
            f"with 'streamframer read'): '{args.subcommand}' sends to a socket, a serial port, "
            "a device or a FIFO",
        )
    return endpoint


def command_bytes(args: argparse.Namespace, command: str) -> bytes:
    """``command`` as the bytes to send: as the shell passed it, or with escapes read."""
    if not args.escapes:
        return os.fsencode(command)  # argv bytes that are not UTF-8 included
    try:
        return parse_bytes(command)
    except ValueError as exc:
        raise Failure(EXIT_USAGE, f"bad COMMAND {command!r}: {exc}") from None


def _encode(args: argparse.Namespace, rule: Rule, command: bytes) -> bytes:
    term: bytes | None = args.write_term
    if term is not None:
        return command + term
    # Every rule the options build has an encoder; the Rule type only promises the call.
    encode: Callable[..., bytes] = rule.encode  # type: ignore[attr-defined]
    options = {
        name: value
        for name, value in (("header", args.header), ("after_length", args.after_length))
        if value is not None
    }
    try:
        return encode(command, **options)
    except (TypeError, ValueError) as exc:
        raise Failure(EXIT_USAGE, f"cannot send {preview(command)}: {exc}") from None


def _send(send: Callable[[bytes], object], wire: bytes, source: str) -> None:
    try:
        send(wire)
    except (TimeoutError, socket.timeout):
        raise Failure(EXIT_IO, f"timed out sending to {source}: the peer does not read") from None
    except OSError as exc:
        raise Failure(EXIT_IO, f"cannot send to {source}: {os_reason(exc)}") from None


def _no_reply(args: argparse.Namespace, command: bytes, wire: bytes, mgr: BufferManager) -> str:
    """Why a reply may never have come, for the timeout's message."""
    if len(mgr):
        with mgr.view() as partial:
            arrived = preview(bytes(partial))
        return (
            f"no complete reply within {args.timeout} s: {plural(len(mgr), 'byte')} arrived "
            f"without the end of a frame: {arrived} (check the framing rule)"
        )
    ending = sent_ending(command, wire)
    hints = []
    if ending:
        tries = " or ".join(f"'{format_bytes(other)}'" for other in other_endings(ending))
        hints.append(
            f"it was sent ending with '{format_bytes(ending)}': an instrument that expects "
            f"another line ending waits for ever (--write-term {tries})"
        )
    if b"?" not in command:
        hints.append("a command without '?' gets no reply: 'streamframer send' sends those")
    return f"no reply within {args.timeout} s" + "".join(f"; {hint}" for hint in hints)


def _check_target(path: str) -> None:
    """Refuse a ``--binary`` file that cannot be written, before the query is sent."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise Failure(EXIT_IO, f"cannot write {path!r}: it is a directory")
    if not os.path.isdir(directory):
        raise Failure(EXIT_IO, f"cannot write {path!r}: no directory {directory!r}")


def _save(path: str, payload: bytes) -> None:
    try:
        with open(path, "wb") as file:
            file.write(payload)
    except OSError as exc:
        raise Failure(EXIT_IO, f"cannot write {path!r}: {os_reason(exc)}") from None
