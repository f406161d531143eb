"""Replay saved inputs through a target without atheris, showing what they decode to.

    python fuzz/replay.py differential crash-57776017...       # the script, then the check
    python fuzz/replay.py rule_length corpus/rule_length/      # every file of a directory

For a script target (``manager``, ``differential``) the settings, rules and operations are
printed, each operation with its outcome on every core: the material for a regression test.
Exits non-zero when an input fails its check, with the traceback.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path

from _harness import Choices, cores
from _ops import Player, decode_script


def show_script(data: bytes) -> None:
    script = decode_script(Choices(data))
    print(
        f"BufferManager({script.max_size}, read_size={script.read_size}, "
        f"on_overflow={script.on_overflow!r}, on_eof={script.on_eof!r})"
    )
    for number, rule in enumerate(script.rules):
        print(f"rule {number}: {rule!r}")
    players = [Player(core, script) for core in cores()]
    for op in script.ops:
        print(f"  {op}")
        for player in players:
            print(f"    {player.play(op)!r}  state {player.state()!r}")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    check = importlib.import_module(argv[0]).check
    files = [
        p
        for arg in argv[1:]
        for p in sorted(Path(arg).glob("*") if Path(arg).is_dir() else [Path(arg)])
    ]
    failed = 0
    for path in files:
        data = path.read_bytes()
        print(f"== {path} ({len(data)} bytes)")
        if argv[0] in ("manager", "differential"):
            show_script(data)
        try:
            check(data)
        except Exception:
            traceback.print_exc()
            failed += 1
    print(f"{len(files) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
