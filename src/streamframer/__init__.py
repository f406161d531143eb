"""streamframer: low-level framing primitives for byte streams.

Bytes that arrive in arbitrary pieces go into a :class:`BufferManager`; a rule says where a frame
ends; the caller gets a zero-copy :class:`Frame` and removes it with ``frame.consume()``.
"""

from ._buffer import DEFAULT_MAX_SIZE, DEFAULT_READ_SIZE, BufferManager
from ._errors import (
    FrameDiscarded,
    FrameLifecycleError,
    FrameTooLarge,
    FramingError,
    StreamClosed,
    StreamFramerError,
)
from ._frame import Frame
from ._rules import Delimited, FrameSpan, NeedMore, Rule, RuleResult, until_delim, until_eot
from ._socket import Source, iter_frames, iter_payloads, read_frame, read_with_rule

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_SIZE",
    "DEFAULT_READ_SIZE",
    "BufferManager",
    "Delimited",
    "Frame",
    "FrameDiscarded",
    "FrameLifecycleError",
    "FrameSpan",
    "FrameTooLarge",
    "FramingError",
    "NeedMore",
    "Rule",
    "RuleResult",
    "Source",
    "StreamClosed",
    "StreamFramerError",
    "iter_frames",
    "iter_payloads",
    "read_frame",
    "read_with_rule",
    "until_delim",
    "until_eot",
]
