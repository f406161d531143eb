"""Framing rules: the one place where a stream's protocol is described (contract in _contract)."""

from ._contract import FrameSpan, NeedMore, Rule, RuleResult, Skip, broken_condition
from ._delimited import Delimited, until_delim, until_eot
from ._length import FixedSize, LengthPrefixed, fixed_size, length_prefixed
from ._multi import Between, UntilAny, between, until_any
from ._netstring import Netstring, netstring
from ._scpi import ieee_block, scpi_response
from ._varint import VarintPrefixed, varint_prefixed

__all__ = [
    "Between",
    "Delimited",
    "FixedSize",
    "FrameSpan",
    "LengthPrefixed",
    "NeedMore",
    "Netstring",
    "Rule",
    "RuleResult",
    "Skip",
    "UntilAny",
    "VarintPrefixed",
    "between",
    "broken_condition",
    "fixed_size",
    "ieee_block",
    "length_prefixed",
    "netstring",
    "scpi_response",
    "until_any",
    "until_delim",
    "until_eot",
    "varint_prefixed",
]
