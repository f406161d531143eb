"""Fuzz target: ieee_block and scpi_response, over arbitrary bytes in arbitrary reads
(see _rule_check).

Run: python fuzz/rule_scpi.py -max_total_time=3600 [corpus directory]
"""

from __future__ import annotations

from _harness import fuzz
from _rule_check import check_family


def check(data: bytes) -> None:
    check_family(data, "scpi")


if __name__ == "__main__":
    fuzz(check)
