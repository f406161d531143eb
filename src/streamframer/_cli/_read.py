"""``streamframer read``: the frames of a source, printed as they arrive."""

from __future__ import annotations

import argparse
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
    read_with_rule,
)
from ._common import EXIT_FRAMING, EXIT_IO, Failure, Meter, open_source, reason
from ._output import Output, ReaderGone, plural, preview

__all__ = ["run_read", "stream_failure"]

_PROGRESS_INTERVAL = 0.2  # seconds between two updates of the live progress line


# --------------------------------------------------------------------------------------------
# read


def run_read(args: argparse.Namespace, rule: Rule) -> int:
    """Print the frames of ``args.source``; return the exit code."""
    output = Output(args.format)  # before the source: a closed stdout opens nothing
    endpoint = open_source(args)
    stats = _Stats(sys.stderr)
    progress = sys.stderr.isatty()
    # On a shared terminal the frames would land after the progress text: clear it first.
    clear_first = progress and output.stream.isatty()
    meter = Meter(endpoint.recv_into, stats.progress if progress else None)
    stats.meter = meter
    mgr = BufferManager(max_size=args.max_size, on_eof=args.on_eof)
    remaining = args.count
    try:
        for batch in _batches(meter, mgr, rule):
            if remaining is not None:
                del batch[remaining:]
                remaining -= len(batch)
            if clear_first:
                stats.clear_progress()
            output.write(batch, stats.frames)
            stats.frames += len(batch)
            stats.payload_bytes += sum(map(len, batch))
            if remaining == 0:
                break
    except ReaderGone:
        pass  # `| head` had enough: not an error
    except KeyboardInterrupt:
        stats.report()
        return 130
    except Failure:
        stats.report()
        raise
    except Exception as exc:
        stats.report()
        raise stream_failure(exc, mgr, meter, args) from None
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


def stream_failure(
    exc: Exception, mgr: BufferManager, meter: Meter, args: argparse.Namespace
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
            f"offset {unconsumed_at} without a complete frame: {preview(exc.partial)} "
            "(--on-eof frame takes it as the last frame)",
        )
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return Failure(
            EXIT_IO,
            f"timed out: no data for {args.timeout} s "
            f"({len(mgr)} bytes buffered, no complete frame)",
        )
    if isinstance(exc, OSError):
        return Failure(EXIT_IO, f"cannot read {args.source}: {reason(exc)}")
    raise exc
