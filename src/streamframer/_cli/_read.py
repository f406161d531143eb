"""``streamframer read`` and ``streamframer query``: frames from a source, printed."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from collections.abc import Iterator
from typing import IO

from .. import (
    BufferManager,
    FrameTooLarge,
    FramingError,
    Rule,
    StreamClosed,
    read_frame,
    read_with_rule,
)
from ._common import EXIT_FRAMING, EXIT_IO, Failure, Meter, open_source, reason
from ._output import plural, preview, summary, writer

__all__ = ["run_query", "run_read"]

_PROGRESS_INTERVAL = 0.2  # seconds between two updates of the live progress line


# --------------------------------------------------------------------------------------------
# read


def run_read(args: argparse.Namespace, rule: Rule) -> int:
    """Print the frames of ``args.source``; return the exit code."""
    endpoint = open_source(args)
    out = sys.stdout.buffer
    write = writer(args.format, out)
    stats = _Stats(sys.stderr)
    progress = sys.stderr.isatty()
    # On a shared terminal the frames would land after the progress text: clear it first.
    clear_first = progress and out.isatty()
    meter = Meter(endpoint.recv_into, stats.progress if progress else None)
    stats.meter = meter
    mgr = BufferManager(max_size=args.max_size)
    remaining = args.count
    try:
        for batch in _batches(meter, mgr, rule):
            if remaining is not None:
                del batch[remaining:]
                remaining -= len(batch)
            if clear_first:
                stats.clear_progress()
            write(batch, stats.frames)
            out.flush()
            stats.frames += len(batch)
            stats.payload_bytes += sum(map(len, batch))
            if remaining == 0:
                break
    except BrokenPipeError:
        # The reader went away (`| head`): not an error. Point stdout at devnull so that the
        # interpreter's final flush does not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    except KeyboardInterrupt:
        stats.report()
        return 130
    except Exception as exc:
        stats.report()
        raise _stream_failure(exc, mgr, meter, args.timeout) from None
    finally:
        endpoint.close()
    stats.report()
    return 0


def _batches(source: Meter, mgr: BufferManager, rule: Rule) -> Iterator[list[bytes]]:
    """The payloads of the stream, a list per read (the batch path), until it ends cleanly.

    An error met after some frames of a read is raised once those frames are out.
    """
    while True:
        try:
            frame = read_with_rule(source, mgr, rule)  # reads at most once
        except StreamClosed as exc:
            if exc.partial:
                raise
            return
        if frame is None:
            continue
        with frame:
            batch = [frame.tobytes()]
        try:
            batch += mgr.drain(rule)  # every other frame that read completed
        except StreamClosed as exc:
            yield batch
            if exc.partial:
                raise
            return
        except Exception:
            yield batch
            raise
        yield batch


class _Stats:
    """Counts for the stats line at exit and the live progress line."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.meter: Meter | None = None
        self.frames = 0
        self.payload_bytes = 0
        self.started = time.monotonic()
        self._next_progress = 0.0
        self._progress_width = 0

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.frames / elapsed if elapsed > 0 else 0.0
        received = reads = 0
        if self.meter is not None:
            received, reads = self.meter.received, self.meter.reads
        return (
            f"{plural(self.frames, 'frame')}, {self.payload_bytes} payload bytes, "
            f"{plural(received, 'byte')} in {plural(reads, 'read')}, {elapsed:.3f} s, "
            f"{rate:.0f} frames/s"
        )

    def progress(self) -> None:
        now = time.monotonic()
        if now >= self._next_progress:
            self._next_progress = now + _PROGRESS_INTERVAL
            text = self.line()
            self.stream.write("\r" + text.ljust(self._progress_width))
            self.stream.flush()
            self._progress_width = len(text)

    def clear_progress(self) -> None:
        if self._progress_width:
            self.stream.write("\r" + " " * self._progress_width + "\r")
            self.stream.flush()
            self._progress_width = 0

    def report(self) -> None:
        self.clear_progress()
        self.stream.write(f"streamframer: {self.line()}\n")
        self.stream.flush()


def _stream_failure(
    exc: Exception, mgr: BufferManager, meter: Meter, timeout: float | None
) -> Failure:
    """``exc`` raised while reading, as the message and exit code the user sees."""
    unconsumed_at = meter.received - len(mgr)  # stream offset of the first unconsumed byte
    if isinstance(exc, FramingError):
        with mgr.view() as unconsumed:
            there = bytes(unconsumed[exc.offset : exc.offset + 17])
        return Failure(
            EXIT_FRAMING,
            f"framing error at stream offset {unconsumed_at + exc.offset}: {exc} "
            f"(bytes there: {preview(there, 16)})",
        )
    if isinstance(exc, FrameTooLarge):
        return Failure(
            EXIT_FRAMING,
            f"frame at stream offset {unconsumed_at} is too large: {exc} (see --max-size)",
        )
    if isinstance(exc, StreamClosed):
        return Failure(
            EXIT_FRAMING,
            f"the stream ended inside a frame: {plural(len(exc.partial), 'byte')} from stream "
            f"offset {unconsumed_at} without a complete frame: {preview(exc.partial)}",
        )
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return Failure(
            EXIT_IO,
            f"timed out: no data for {timeout} s ({len(mgr)} bytes buffered, no complete frame)",
        )
    if isinstance(exc, OSError):
        return Failure(EXIT_IO, f"connection error: {reason(exc)}")
    raise exc


# --------------------------------------------------------------------------------------------
# query


def run_query(args: argparse.Namespace, rule: Rule, *, is_scpi: bool) -> int:
    """Send ``args.command``, print the reply framed by ``rule``; return the exit code."""
    endpoint = open_source(args, writable=True)
    first_byte = bytearray()  # of the reply: b"#" starts a block

    def read_into(view: memoryview) -> int:
        received = endpoint.recv_into(view)
        if received and not first_byte:
            first_byte.append(view[0])
        return received

    meter = Meter(read_into)
    mgr = BufferManager(max_size=args.max_size)
    try:
        endpoint.send(args.command.encode() + args.write_term)
        frame = read_frame(meter, mgr, rule)
        with frame:
            payload = frame.tobytes()
        is_block = is_scpi and first_byte == b"#"
    except StreamClosed as exc:
        if exc.partial:
            raise _stream_failure(exc, mgr, meter, args.timeout) from None
        raise Failure(EXIT_IO, "the peer closed the connection without a reply") from None
    except (TimeoutError, socket.timeout):
        hint = "" if "?" in args.command else " (a command without '?' gets no reply)"
        raise Failure(EXIT_IO, f"no reply within {args.timeout} s{hint}") from None
    except Exception as exc:
        raise _stream_failure(exc, mgr, meter, args.timeout) from None
    finally:
        endpoint.close()

    out = sys.stdout.buffer
    if args.format != "auto":
        writer(args.format, out)([payload], 0)
    elif is_block:
        out.write(f"IEEE 488.2 block, {summary(payload)}\n".encode())
    else:
        writer("text", out)([payload], 0)
    out.flush()
    if args.binary is not None:
        if not is_block:
            raise Failure(
                EXIT_FRAMING, f"the reply is not a binary block: {args.binary} not written"
            )
        with open(args.binary, "wb") as file:
            file.write(payload)
        print(f"saved {len(payload)} bytes to {args.binary}", file=sys.stderr)
    return 0
