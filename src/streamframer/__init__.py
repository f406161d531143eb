"""streamframer: low-level framing primitives for byte streams.

Bytes that arrive in arbitrary pieces go into a :class:`BufferManager`; a rule says where a frame
ends; the caller gets a zero-copy :class:`Frame` and removes it with ``frame.consume()``.
"""

from ._core import DEFAULT_MAX_SIZE, DEFAULT_READ_SIZE, IMPLEMENTATION, BufferManager, Frame
from ._errors import (
    FrameDiscarded,
    FrameLifecycleError,
    FrameTooLarge,
    FramingError,
    ReadOnlySource,
    StreamClosed,
    StreamFramerError,
)
from ._io._framed import Framed, connect
from ._io._socket import Source, iter_frames, iter_payloads, read_frame, read_with_rule
from ._rules import (
    Delimited,
    FrameSpan,
    NeedMore,
    Rule,
    RuleResult,
    Skip,
    between,
    fixed_size,
    ieee_block,
    length_prefixed,
    netstring,
    scpi_response,
    until_any,
    until_delim,
    until_eot,
    varint_prefixed,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_SIZE",
    "DEFAULT_READ_SIZE",
    "IMPLEMENTATION",
    "BufferManager",
    "Delimited",
    "Frame",
    "FrameDiscarded",
    "FrameLifecycleError",
    "FrameSpan",
    "FrameTooLarge",
    "Framed",
    "FramingError",
    "NeedMore",
    "ReadOnlySource",
    "Rule",
    "RuleResult",
    "Skip",
    "Source",
    "StreamClosed",
    "StreamFramerError",
    "between",
    "connect",
    "fixed_size",
    "ieee_block",
    "iter_frames",
    "iter_payloads",
    "length_prefixed",
    "netstring",
    "read_frame",
    "read_with_rule",
    "scpi_response",
    "until_any",
    "until_delim",
    "until_eot",
    "varint_prefixed",
]


def _report_public_names() -> None:
    """Make each public class and function say ``streamframer.X``, the name users import, in
    tracebacks, reprs and docs, rather than the private module that defines it."""
    for name in __all__:
        value = globals()[name]
        # Only what a private module defined: not typing's aliases, not the C core's types,
        # which are born with the public name (and refuse a new one).
        if getattr(value, "__module__", "").startswith(__name__ + "."):
            value.__module__ = __name__


_report_public_names()
del _report_public_names
