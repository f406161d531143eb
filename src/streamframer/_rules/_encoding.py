"""What the built-in encoders share: checking their arguments, and refusing a payload that the
rule would not decode back to itself.

An encoder is the way back out: ``rule.encode(payload)`` is the bytes of one frame that the same
rule decodes to exactly ``payload``, however the bytes are split into reads. A payload the rule
cannot frame (a delimiter inside it, a length the field cannot hold) is a ``ValueError`` naming
why, never a frame the peer would misread.
"""

from __future__ import annotations

from typing import Union

from .._errors import _preview

__all__ = ["BytesLike", "check_single_end", "exact_bytes", "payload_bytes"]

BytesLike = Union[bytes, bytearray, memoryview]


def payload_bytes(payload: object) -> bytes:
    """``payload`` as ``bytes`` (empty allowed); ``str`` is refused (no guessing at an encoding)."""
    if isinstance(payload, str) or not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(f"payload must be bytes, not {type(payload).__name__}")
    return bytes(payload)


def exact_bytes(rule: object, name: str, value: object, size: int | None, meaning: str) -> bytes:
    """``value`` as exactly ``size`` bytes (any number for ``None``, missing ones included): the
    bytes of a frame beside its payload that ``meaning`` names (``"bytes before the length
    field"``). Missing (``None``) when some are needed, or of the wrong size, is a
    ``ValueError``."""
    if value is None:
        if not size:
            return b""
        raise ValueError(f"{rule!r} needs {name}=, the {size} {meaning}")
    if isinstance(value, str) or not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    data = bytes(value)
    if size is not None and len(data) != size:
        if size == 0:
            raise ValueError(f"{rule!r} has no {meaning}, got {name}={data!r}")
        raise ValueError(
            f"{rule!r} needs {name}= of {size} bytes, the {size} {meaning}; got {len(data)}: "
            f"{data!r}"
        )
    return data


def check_single_end(rule: object, frame: bytes, marker: bytes, what: str, skip: int = 0) -> None:
    """Refuse ``frame`` unless the first ``marker`` from ``skip`` on is the one at its very end:
    the decoder stops at the first one, so an earlier one would cut the payload short."""
    index = frame.find(marker, skip)
    if index >= 0 and index + len(marker) == len(frame):
        return
    if index < 0:
        raise ValueError(
            f"{rule!r} cannot encode {_preview(frame)}: a frame must end with its {what} {marker!r}"
        )
    raise ValueError(
        f"{rule!r} cannot encode a payload holding its {what} {marker!r}: it would end the frame "
        f"at offset {index - skip} of {_preview(frame[skip:])}"
    )
