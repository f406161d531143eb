"""Fuzz target: until_delim and until_eot, over arbitrary bytes in arbitrary reads
(see _rule_check).

Run: python fuzz/rule_delimited.py -max_total_time=3600 [corpus directory]
"""

from __future__ import annotations

from _harness import fuzz
from _rule_check import check_family


def check(data: bytes) -> None:
    check_family(data, "delimited")


if __name__ == "__main__":
    fuzz(check)
