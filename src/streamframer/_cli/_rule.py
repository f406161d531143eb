"""The framing options of ``read``, ``query`` and ``send``, and the rule they choose."""

from __future__ import annotations

import argparse

from .. import (
    Rule,
    fixed_size,
    length_prefixed,
    netstring,
    scpi_response,
    until_any,
    until_delim,
    until_eot,
    varint_prefixed,
)
from ._common import EXIT_USAGE, Failure, Parser, bytes_arg, natural_int, positive_int

__all__ = ["build_rule", "framing_options"]


def framing_options(*, scpi_default: bool) -> Parser:
    """The parent parser of the rule options (the default rule: SCPI responses or lines)."""
    options = Parser(add_help=False)
    rules = options.add_argument_group(
        "framing rule",
        "SCPI responses with a \\n line terminator by default"
        if scpi_default
        else "lines ended by \\n by default; escapes such as \\r\\n and \\x04 are understood",
    )
    rules.add_argument(
        "--delim",
        type=bytes_arg,
        metavar="DELIM",
        help="frames end with DELIM (with --scpi: the line terminator)",
    )
    rules.add_argument(
        "--strip",
        type=bytes_arg,
        metavar="BYTE",
        help="drop BYTE when it stands right before the delimiter: --strip '\\r' reads lines "
        "ended by \\n or \\r\\n",
    )
    rules.add_argument("--eot", action="store_true", help="frames end with the byte 0x04 (EOT)")
    rules.add_argument(
        "--any",
        type=bytes_arg,
        action="append",
        metavar="DELIM",
        help="frames end with whichever DELIM comes first (repeat it)",
    )
    rules.add_argument(
        "--keep-delimiter",
        action="store_true",
        help="leave the delimiter that ended a frame in its payload (lines, --delim, --any)",
    )
    rules.add_argument(
        "--skip-empty",
        action="store_true",
        help="drop empty frames as noise (lines, --delim, --eot, --any), e.g. SLIP's END bytes",
    )
    rules.add_argument(
        "--length-prefixed",
        type=positive_int,
        metavar="SIZE",
        help="frames start with a SIZE-byte length field",
    )
    rules.add_argument(
        "--varint",
        type=positive_int,
        metavar="MAX_BYTES",
        help="frames start with an unsigned LEB128 varint length of at most MAX_BYTES bytes "
        "(protobuf: 10; MQTT: 4, with --length-offset 1)",
    )
    rules.add_argument(
        "--length-offset",
        type=natural_int,
        metavar="N",
        help="the length field (or varint) starts N bytes into the frame (default 0)",
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
        type=natural_int,
        metavar="N",
        help="the payload starts N bytes into the frame (default: right after the length "
        "field; 0 keeps the whole frame)",
    )
    rules.add_argument(
        "--magic",
        type=bytes_arg,
        metavar="BYTES",
        help="--length-prefixed: BYTES open every frame, e.g. '#A' for HP blocks (with "
        "--length-prefixed 2 --length-offset 2 --byteorder little)",
    )
    rules.add_argument(
        "--netstring", action="store_true", help="netstrings: <decimal length>:<payload>,"
    )
    rules.add_argument("--fixed", type=positive_int, metavar="N", help="frames of N bytes")
    rules.add_argument(
        "--scpi",
        action="store_true",
        help="SCPI responses: an IEEE 488.2 block (#nL..., R&S #(L)...) or a line",
    )
    return options


def build_rule(args: argparse.Namespace, *, scpi_default: bool = False) -> tuple[Rule, bool]:
    """The rule the options ask for, and whether it is the SCPI response rule.

    Raises :class:`Failure` (usage) when the options conflict or a rule refuses them.
    """
    chosen = _given(
        args,
        ("--eot", "eot"),
        ("--any", "any"),
        ("--length-prefixed", "length_prefixed"),
        ("--varint", "varint"),
        ("--netstring", "netstring"),
        ("--fixed", "fixed"),
        ("--scpi", "scpi"),
    )
    if len(chosen) > 1:
        raise Failure(EXIT_USAGE, f"choose one framing rule, not {' and '.join(chosen)}")
    scpi = args.scpi or (scpi_default and not chosen)
    if args.delim is not None and chosen and not args.scpi:
        raise Failure(EXIT_USAGE, f"--delim cannot be combined with {chosen[0]}")
    length_field = args.length_prefixed is not None or args.varint is not None
    _check_modifiers(
        args,
        "--length-prefixed or --varint",
        length_field,
        ("--length-offset", "length_offset"),
        ("--length-adjust", "length_adjust"),
        ("--payload-offset", "payload_offset"),
    )
    _check_modifiers(
        args,
        "--length-prefixed",
        args.length_prefixed is not None,
        ("--byteorder", "byteorder"),
        ("--magic", "magic"),
    )
    if args.strip is not None and scpi:
        raise Failure(
            EXIT_USAGE,
            "--strip works with lines (the default rule of read, or --delim), not SCPI "
            "responses: for replies ended by \\r\\n use --delim '\\r\\n'",
        )
    lines = not chosen and not scpi
    _check_modifiers(args, "lines, --delim", lines, ("--strip", "strip"))
    _check_modifiers(
        args,
        "lines, --delim or --any",
        lines or bool(args.any),
        ("--keep-delimiter", "keep_delimiter"),
    )
    _check_modifiers(
        args,
        "lines, --delim, --eot or --any",
        lines or bool(args.any) or args.eot,
        ("--skip-empty", "skip_empty"),
    )
    try:
        if scpi:
            return scpi_response(_delimiter(args)), True
        return _plain_rule(args), False
    except (TypeError, ValueError) as exc:
        raise Failure(EXIT_USAGE, str(exc)) from None


def _given(args: argparse.Namespace, *options: tuple[str, str]) -> list[str]:
    return [option for option, name in options if getattr(args, name) not in (None, False)]


def _check_modifiers(
    args: argparse.Namespace, needs: str, present: bool, *options: tuple[str, str]
) -> None:
    given = _given(args, *options)
    if given and not present:
        raise Failure(EXIT_USAGE, f"{given[0]} works with {needs} only")


def _plain_rule(args: argparse.Namespace) -> Rule:
    if args.eot:
        return until_eot(0x04, skip_empty=args.skip_empty)
    if args.any:
        return until_any(args.any, keep_delimiter=args.keep_delimiter, skip_empty=args.skip_empty)
    if args.fixed:
        return fixed_size(args.fixed)
    if args.length_prefixed:
        return length_prefixed(
            args.length_prefixed,
            offset=args.length_offset or 0,
            byteorder=args.byteorder or "big",
            adjust=args.length_adjust or 0,
            payload_offset=args.payload_offset,
            magic=args.magic or b"",
        )
    if args.varint:
        return varint_prefixed(
            offset=args.length_offset or 0,
            max_bytes=args.varint,
            adjust=args.length_adjust or 0,
            payload_offset=args.payload_offset,
        )
    if args.netstring:
        return netstring()
    return until_delim(
        _delimiter(args),
        strip=args.strip,
        keep_delimiter=args.keep_delimiter,
        skip_empty=args.skip_empty,
    )


def _delimiter(args: argparse.Namespace) -> bytes:
    return b"\n" if args.delim is None else bytes(args.delim)
