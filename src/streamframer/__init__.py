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
    scpi_response,
    until_any,
    until_delim,
    until_eot,
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
    "read_frame",
    "read_with_rule",
    "scpi_response",
    "until_any",
    "until_delim",
    "until_eot",
]
