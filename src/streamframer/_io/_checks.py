"""The arguments every adapter takes, checked once, at the call, before any I/O.

* A timeout is ``None`` (wait as long as it takes) or a real number of seconds from 0 to
  :data:`MAX_TIMEOUT`; 0 takes only what is buffered or can be read without waiting. Anything
  else is a ``TypeError`` (not a number: ``"2"``, ``True``) or a ``ValueError`` (negative, NaN,
  infinite, beyond what the system calls take), never a wait of the wrong length.
* A rule is a callable following the rule contract. A rule *factory* passed without calling it
  (``until_delim`` for ``until_delim(b"\\n")``) is callable too, so it would only fail on the
  first frame, far from the cause: it is refused here, naming the call to make.
* An encoder is any object with ``encode(payload, **options) -> bytes``: a rule, usually.
"""

from __future__ import annotations

import math
import numbers
import threading
from typing import Callable, cast

from .. import _rules

__all__ = ["MAX_TIMEOUT", "encoder_arg", "rule_arg", "timeout_arg"]

#: Longest timeout the system calls take (about 292 years).
MAX_TIMEOUT = threading.TIMEOUT_MAX

# Each factory and a call that makes a rule from it, for the message.
_FACTORIES: dict[Callable[..., object], str] = {
    _rules.until_delim: 'until_delim(b"\\n")',
    _rules.until_eot: "until_eot(0x04)",
    _rules.until_any: 'until_any((b"\\r\\n", b"\\n"))',
    _rules.fixed_size: "fixed_size(16)",
    _rules.length_prefixed: "length_prefixed(2)",
    _rules.varint_prefixed: "varint_prefixed()",
    _rules.netstring: "netstring()",
    _rules.ieee_block: "ieee_block()",
    _rules.scpi_response: "scpi_response()",
    _rules.between: 'between(b"\\x02", b"\\x03")',
}


def timeout_arg(timeout: object, name: str = "timeout") -> float | None:
    """``timeout`` checked (see the module docstring), as a ``float`` or ``None``."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError(
            f"{name} must be None or a number of seconds, not {type(timeout).__name__} {timeout!r}"
        )
    seconds = float(timeout)
    if not (0 <= seconds <= MAX_TIMEOUT):  # NaN fails every comparison
        hint = " (None waits as long as it takes)" if math.isinf(seconds) else ""
        raise ValueError(
            f"{name} must be None or from 0 to {MAX_TIMEOUT:.0f} seconds, got {timeout!r}{hint}"
        )
    return seconds


def rule_arg(rule: object, name: str = "rule") -> None:
    """Refuse what cannot be a rule: not callable, or a rule factory not called yet."""
    if not callable(rule):
        raise TypeError(f"{name} must be callable, not {type(rule).__name__}")
    call = _factory_call(rule)
    if call is not None:
        raise TypeError(
            f"{name}={rule.__name__} is the function that makes a rule, not a rule: "  # type: ignore[attr-defined]
            f"call it, e.g. {name}={call}"
        )


def encoder_arg(encoder: object) -> None:
    """Refuse an ``encoder=`` without ``encode()`` (``None`` is fine: the rule encodes)."""
    if encoder is None:
        return
    call = _factory_call(encoder)
    if call is not None:
        raise TypeError(
            f"encoder={encoder.__name__} is the function that makes a rule, not an encoder: "  # type: ignore[attr-defined]
            f"call it, e.g. encoder={call}"
        )
    if not callable(getattr(encoder, "encode", None)):
        raise TypeError(
            f"encoder must have an encode(payload, **options) method (a rule, such as "
            f'until_delim(b"\\r")), not {type(encoder).__name__}'
        )


def _factory_call(value: object) -> str | None:
    try:
        return _FACTORIES.get(cast("Callable[..., object]", value))
    except TypeError:  # unhashable: not a factory
        return None
