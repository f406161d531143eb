"""The ``streamframer`` command: ``demo``, ``read``, ``query`` and ``send``.

A thin layer over the public API: it opens a source, picks a rule from the options, and prints
frames or sends them. Whatever goes wrong ends in one line on stderr and an exit code, never a
traceback: 0 ok, 1 framing error (a malformed or oversized frame, or a stream that ended inside a
frame), 2 usage, 3 I/O (a connection, a timeout, a source that cannot be opened, an output that
cannot be written).
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Sequence

import streamframer

from ._common import (
    EXIT_IO,
    Failure,
    Parser,
    bytes_arg,
    positive_int,
    serve_address,
    size_arg,
    timeout_seconds,
)
from ._rule import build_rule, framing_options

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    if sys.stderr is None:
        # Closed when the command started: messages go nowhere, the exit code still tells.
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    args = _parse(build_parser(), argv)
    try:
        if args.subcommand == "demo":
            if sys.stdout is None:
                raise Failure(EXIT_IO, "standard output is closed: nowhere to print the demo")
            if args.serve is not None:
                from ._serve import serve  # threads: loaded only for the demo

                return serve(args.serve, args.seed, sys.stdout)
            from ._demo import run_demo

            return run_demo(args.seed, sys.stdout)
        rule, is_scpi = build_rule(args, scpi_default=args.subcommand == "query")
        if args.subcommand == "read":
            from ._read import run_read

            return run_read(args, rule)
        from ._query import run_query, run_send

        if args.subcommand == "query":
            return run_query(args, rule, is_scpi=is_scpi)
        return run_send(args, rule)
    except Failure as exc:
        print(f"streamframer {args.subcommand}: error: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; an unknown option is the subcommand's usage error, with the option it
    was probably meant to be (argparse would show the top-level usage, suggesting nothing)."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        command: argparse.ArgumentParser = args.command_parser
        unknown = extras[0]
        message = f"unrecognized arguments: {' '.join(extras)}"
        if unknown.startswith("-"):
            known = [name for action in command._actions for name in action.option_strings]
            close = difflib.get_close_matches(unknown.split("=", 1)[0], known, n=1)
            message = f"unknown option {unknown!r}" + (
                f": did you mean {close[0]!r}?" if close else ""
            )
        command.print_usage(sys.stderr)
        command.error(message)
    return args


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
    demo.add_argument(
        "--serve",
        metavar="[HOST:]PORT",
        type=serve_address,
        help="only run the simulated instrument, on HOST (default 127.0.0.1) and PORT, until "
        "Ctrl-C, for the examples of the README and docs: streamframer demo --serve 5025",
    )

    read = commands.add_parser(
        "read",
        parents=[framing_options(scpi_default=False), _source_options(timeout=None)],
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
        help="text: a line per frame, control bytes escaped; hex: a line of hex bytes per "
        "frame; json: a JSON object per line (index, length, text or base64); raw: the "
        "payloads as they are, back to back (default: text)",
    )
    read.add_argument("--count", type=positive_int, metavar="N", help="stop after N frames")

    query = commands.add_parser(
        "query",
        parents=[framing_options(scpi_default=True), _source_options(timeout=5.0)],
        help="send one command and print the framed reply",
        description="Send COMMAND framed by the rule (a line ended by --delim unless another\n"
        "rule is chosen), then print the reply, framed as a SCPI response (an IEEE 488.2\n"
        "block, or a line) unless another rule is chosen.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EXIT_CODES,
    )
    query.add_argument("source", metavar="ADDRESS", help=_ADDRESS_HELP)
    query.add_argument("command", metavar="COMMAND", help="the command, e.g. '*IDN?'")
    _sending_options(query)
    query.add_argument("--binary", metavar="FILE", help="save a block reply's payload to FILE")
    query.add_argument(
        "--format",
        choices=("auto", "text", "hex", "json", "raw"),
        default="auto",
        help="auto: text replies as text, blocks as a size and hex summary "
        "(default); the others as for 'read'",
    )

    send = commands.add_parser(
        "send",
        parents=[framing_options(scpi_default=False), _source_options(timeout=5.0, reads=False)],
        help="send commands, framed by the rule, and read nothing",
        description="Send each COMMAND framed by the rule (a line ended by \\n by default), for\n"
        "commands that get no reply. ADDRESS - writes the frames to stdout.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EXIT_CODES,
    )
    send.add_argument("source", metavar="ADDRESS", help=_ADDRESS_HELP + ", or - for stdout")
    send.add_argument("commands", metavar="COMMAND", nargs="+", help="e.g. '*RST'")
    _sending_options(send)
    for command in (demo, read, query, send):
        command.set_defaults(command_parser=command)
    return parser


_SOURCE_HELP = (
    "tcp://host:port, tls://host:port, host:port, TCPIP::host::port::SOCKET, a serial device "
    "(with --baud) or ASRL<device>::INSTR, - for stdin, or a file"
)
_ADDRESS_HELP = (
    "tcp://host:port, tls://host:port, host:port, TCPIP::host::port::SOCKET, a serial device "
    "(with --baud) or ASRL<device>::INSTR, or a device file"
)
_EXIT_CODES = """exit codes:
  0  ok
  1  framing error: a malformed or oversized frame, or a stream that ended inside a frame
  2  usage error
  3  I/O error: a connection, a timeout, a source that cannot be opened, or an output that
     cannot be written"""


def _sending_options(command: argparse.ArgumentParser) -> None:
    group = command.add_argument_group("sending")
    group.add_argument(
        "--escapes",
        "-e",
        action="store_true",
        help="COMMAND holds escapes such as \\n and \\xHH, for binary payloads (default: "
        "COMMAND is sent as it is)",
    )
    group.add_argument(
        "--write-term",
        type=bytes_arg,
        metavar="TERM",
        help="send COMMAND followed by TERM as it is, instead of framing it by the rule "
        "(e.g. '\\r' for an instrument that takes CR and answers CR LF)",
    )
    group.add_argument(
        "--header",
        type=bytes_arg,
        metavar="BYTES",
        help="--length-prefixed: the bytes before the length field (--length-offset of them)",
    )
    group.add_argument(
        "--after-length",
        type=bytes_arg,
        metavar="BYTES",
        help="--length-prefixed: the bytes between the length field and the payload",
    )


def _source_options(*, timeout: float | None, reads: bool = True) -> Parser:
    options = Parser(add_help=False)
    group = options.add_argument_group("source")
    group.add_argument(
        "--timeout",
        type=timeout_seconds,
        default=timeout,
        metavar="SECONDS",
        help="give up after SECONDS without progress, or 'none' (exit code 3; default: "
        + ("none)" if timeout is None else f"{timeout:g})"),
    )
    if reads:
        group.add_argument(
            "--max-size",
            type=size_arg,
            default=streamframer.DEFAULT_MAX_SIZE,
            metavar="BYTES",
            help="largest frame accepted, e.g. 4096, 64K, 16M or 'none' (default: 16M)",
        )
        group.add_argument(
            "--on-eof",
            choices=("raise", "frame"),
            default="raise",
            help="bytes left when the stream ends: raise: an error, exit 1; frame: the last "
            "frame (default: raise)",
        )
    group.add_argument(
        "--baud", type=positive_int, help="the address is a serial device at BAUD (pyserial)"
    )
    group.add_argument("--cafile", help="tls://: trust the CA certificates in this PEM file")
    group.add_argument(
        "--insecure", action="store_true", help="tls://: do not verify the server's certificate"
    )
    return options
