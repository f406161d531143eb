"""The ``streamframer`` command: ``demo``, ``read`` and ``query``.

A thin layer over the public API: it opens a source, picks a rule from the options, and prints
frames. Exit codes: 0 ok, 1 framing error (a malformed or oversized frame, or a stream that ended
inside a frame), 2 usage, 3 connection, timeout or a source that cannot be opened.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import streamframer

from .. import (
    Rule,
    fixed_size,
    length_prefixed,
    scpi_response,
    until_any,
    until_delim,
    until_eot,
)
from ._common import EXIT_USAGE, Failure, parse_bytes
from ._read import run_query, run_read

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.subcommand == "demo":
            from ._demo import run_demo  # threads and random: loaded only for the demo

            return run_demo(args.seed, sys.stdout)
        rule, is_scpi = build_rule(args, scpi_default=args.subcommand == "query")
        if args.subcommand == "read":
            return run_read(args, rule)
        return run_query(args, rule, is_scpi=is_scpi)
    except Failure as exc:
        print(f"streamframer {args.subcommand}: error: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamframer",
        description="Frame byte streams from the command line: try 'streamframer demo'.",
    )
    parser.add_argument("--version", action="version", version=streamframer.__version__)
    commands = parser.add_subparsers(dest="subcommand", metavar="COMMAND")
    commands.required = True

    demo = commands.add_parser(
        "demo",
        help="frame the replies of a simulated SCPI instrument, live",
        description="Start a simulated SCPI instrument on a loopback port, query it, and frame "
        "its replies, which arrive in random pieces. No hardware needed.",
    )
    demo.add_argument("--seed", type=int, help="seed of the random fragmentation (default: random)")

    read = commands.add_parser(
        "read",
        parents=[_framing_options(), _source_options(timeout=None)],
        help="print the frames of a stream",
        description="Read SOURCE and print one frame at a time until it ends (or --count).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EXIT_CODES,
    )
    read.add_argument("source", metavar="SOURCE", help=_SOURCE_HELP)
    read.add_argument(
        "--format",
        choices=("text", "hex", "json", "raw"),
        default="text",
        help="text: a line per frame; hex: a line of hex bytes per frame; json: a "
        "JSON object per line (index, length, text or base64); raw: the payloads "
        "back to back (default: text)",
    )
    read.add_argument("--count", type=_positive_int, metavar="N", help="stop after N frames")

    query = commands.add_parser(
        "query",
        parents=[_framing_options(query=True), _source_options(timeout=5.0)],
        help="send one command and print the framed reply",
        description="Send COMMAND and the write terminator, then print the reply, framed as a\n"
        "SCPI response (an IEEE 488.2 block, or a line ended by --delim) unless another\n"
        "rule is chosen.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EXIT_CODES,
    )
    query.add_argument(
        "source",
        metavar="ADDRESS",
        help="tcp://host:port, tls://host:port, or a serial device with --baud",
    )
    query.add_argument("command", metavar="COMMAND", help="the command, e.g. '*IDN?'")
    query.add_argument(
        "--write-term",
        type=_bytes_arg,
        default=b"\n",
        metavar="TERM",
        help="appended to COMMAND (default: \\n)",
    )
    query.add_argument("--binary", metavar="FILE", help="save a block reply's payload to FILE")
    query.add_argument(
        "--format",
        choices=("auto", "text", "hex", "json", "raw"),
        default="auto",
        help="auto: text replies as text, blocks as a size and hex summary "
        "(default); the others as for 'read'",
    )
    return parser


_SOURCE_HELP = (
    "tcp://host:port, tls://host:port, a serial device (with --baud), - for stdin, or a file"
)
_EXIT_CODES = """exit codes:
  0  ok
  1  framing error: a malformed or oversized frame, or a stream that ended inside a frame
  2  usage error
  3  connection error, timeout, or a source that cannot be opened"""


def _framing_options(*, query: bool = False) -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    rules = options.add_argument_group(
        "framing rule",
        "SCPI response with a \\n line terminator by default"
        if query
        else "lines ended by \\n by default; escapes such as \\r\\n and \\x04 are understood",
    )
    rules.add_argument(
        "--delim",
        type=_bytes_arg,
        metavar="DELIM",
        help="frames end with DELIM (with --scpi: the line terminator)",
    )
    rules.add_argument("--eot", action="store_true", help="frames end with the byte 0x04 (EOT)")
    rules.add_argument(
        "--any",
        type=_bytes_arg,
        action="append",
        metavar="DELIM",
        help="frames end with whichever DELIM comes first (repeat it)",
    )
    rules.add_argument(
        "--length-prefixed",
        type=_positive_int,
        metavar="SIZE",
        help="frames start with a SIZE-byte length field",
    )
    rules.add_argument(
        "--length-offset",
        type=_natural_int,
        metavar="N",
        help="the length field starts N bytes into the frame (default 0)",
    )
    rules.add_argument(
        "--byteorder",
        choices=("big", "little"),
        help="byte order of the length field (default big)",
    )
    rules.add_argument(
        "--length-adjust",
        type=int,
        metavar="N",
        help="add N to the length field's value (default 0)",
    )
    rules.add_argument(
        "--payload-offset",
        type=_natural_int,
        metavar="N",
        help="the payload starts N bytes into the frame (default: right after the length "
        "field; 0 keeps the whole frame)",
    )
    rules.add_argument("--fixed", type=_positive_int, metavar="N", help="frames of N bytes")
    rules.add_argument(
        "--scpi", action="store_true", help="SCPI responses: an IEEE 488.2 block (#nL...) or a line"
    )
    return options


def _source_options(*, timeout: float | None) -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("source")
    group.add_argument(
        "--timeout",
        type=_positive_float,
        default=timeout,
        metavar="SECONDS",
        help="give up when no byte arrives for SECONDS (exit code 3; default: "
        + ("wait forever)" if timeout is None else f"{timeout:g})"),
    )
    group.add_argument(
        "--max-size",
        type=_size_arg,
        default=streamframer.DEFAULT_MAX_SIZE,
        metavar="BYTES",
        help="largest frame accepted, e.g. 4096, 64K, 16M or 'none' (default: 16M)",
    )
    group.add_argument("--baud", type=_positive_int, help="SOURCE is a serial device (pyserial)")
    group.add_argument("--cafile", help="tls://: trust the CA certificates in this PEM file")
    group.add_argument(
        "--insecure", action="store_true", help="tls://: do not verify the server's certificate"
    )
    return options


# --------------------------------------------------------------------------------------------
# Argument types


def _bytes_arg(text: str) -> bytes:
    try:
        return parse_bytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    value = _natural_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _natural_int(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _size_arg(text: str) -> int | None:
    if text.lower() == "none":
        return None
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    scale = units.get(text[-1:].lower(), 1)
    return _positive_int(text[:-1] if scale > 1 else text) * scale


# --------------------------------------------------------------------------------------------
# The rule


def build_rule(args: argparse.Namespace, *, scpi_default: bool = False) -> tuple[Rule, bool]:
    """The rule the options ask for, and whether it is the SCPI response rule.

    Raises :class:`Failure` (usage) when the options conflict or a rule refuses them.
    """
    chosen = [
        option
        for option, value in (
            ("--eot", args.eot),
            ("--any", args.any),
            ("--length-prefixed", args.length_prefixed),
            ("--fixed", args.fixed),
            ("--scpi", args.scpi),
        )
        if value
    ]
    if len(chosen) > 1:
        raise Failure(EXIT_USAGE, f"choose one framing rule, not {' and '.join(chosen)}")
    scpi = args.scpi or (scpi_default and not chosen)
    if args.delim is not None and chosen and not args.scpi:
        raise Failure(EXIT_USAGE, f"--delim cannot be combined with {chosen[0]}")
    length_options = [
        option
        for option, value in (
            ("--length-offset", args.length_offset),
            ("--byteorder", args.byteorder),
            ("--length-adjust", args.length_adjust),
            ("--payload-offset", args.payload_offset),
        )
        if value is not None
    ]
    if length_options and args.length_prefixed is None:
        raise Failure(EXIT_USAGE, f"{length_options[0]} needs --length-prefixed")
    try:
        if scpi:
            return scpi_response(_delimiter(args)), True
        return _plain_rule(args), False
    except (TypeError, ValueError) as exc:
        raise Failure(EXIT_USAGE, str(exc)) from None


def _plain_rule(args: argparse.Namespace) -> Rule:
    if args.eot:
        return until_eot(0x04)
    if args.any:
        return until_any(args.any)
    if args.fixed:
        return fixed_size(args.fixed)
    if args.length_prefixed:
        return length_prefixed(
            args.length_prefixed,
            offset=args.length_offset or 0,
            byteorder=args.byteorder or "big",
            adjust=args.length_adjust or 0,
            payload_offset=args.payload_offset,
        )
    return until_delim(_delimiter(args))


def _delimiter(args: argparse.Namespace) -> bytes:
    return b"\n" if args.delim is None else bytes(args.delim)
