"""Argument checks shared by the rule builders: bad arguments are ValueError/TypeError at once,
when the rule is built, never a surprise on the first frame."""

from __future__ import annotations

__all__ = ["bytes_arg", "int_arg", "max_length_arg"]


def bytes_arg(name: str, value: object) -> bytes:
    """``value`` as non-empty ``bytes``; ``str`` is refused (no guessing at an encoding)."""
    if isinstance(value, str) or not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    data = bytes(value)
    if not data:
        raise ValueError(f"{name} must not be empty")
    return data


def int_arg(name: str, value: object, minimum: int | None = None) -> int:
    """``value`` as an ``int`` (``bool`` refused), at least ``minimum`` when given."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def max_length_arg(value: object, capacity: int, field: str) -> int | None:
    """A length rule's ``max_length``: ``None``, or an ``int`` from 0 to what ``field`` (e.g.
    ``"2-byte length field"``) can hold, ``capacity``."""
    if value is None:
        return None
    longest = int_arg("max_length", value, 0)
    if longest > capacity:
        raise ValueError(f"max_length={longest} is more than a {field} can hold ({capacity})")
    return longest
