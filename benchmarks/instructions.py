"""Instructions per frame, counted with callgrind: the measure that a busy machine does not move.

    python benchmarks/instructions.py                   # every path, both cores, and the peers
    python benchmarks/instructions.py --check           # compiled core vs the baseline (CI)
    python benchmarks/instructions.py --update-baseline # after a change meant to cost more
    python benchmarks/instructions.py --only per_frame,readline

Each path (framebench/counted.py) runs in a subprocess under ``valgrind --tool=callgrind`` over
the first SMALL reads of a fixed stream (a warm-up), again, then over the first LARGE reads;
callgrind dumps its counts between the runs. Instructions per frame are the difference between
the last two runs over the difference in frames: start-up, imports and setup cancel out. The
count does not depend on the load of the machine; two runs on the same commit agree within a
fraction of a percent. ``--check`` fails when a path of the compiled core needs more than 10%
more instructions per frame than benchmarks/instructions-baseline.json says for this CPython
minor version. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from framebench.callgrind import PEERS, count, key, report
from framebench.counted import PATHS

BASELINE = Path(__file__).resolve().parent / "instructions-baseline.json"
TOLERANCE = 0.10
#: The compiled core's paths the pure core is counted on too (the others only add its loops).
PURE = (
    "per_frame",
    "seed_loop",
    "iter_frames",
    "iter_payloads",
    "drain",
    "custom_rule",
    "aio_server",
)


def selected(only: list[str], check: bool) -> list[tuple[str, str]]:
    names = [n for arg in only for n in arg.split(",") if n] or list(PATHS)
    unknown = sorted(set(names) - set(PATHS))
    if unknown:
        raise SystemExit(f"unknown path(s) {', '.join(unknown)}; choose from {', '.join(PATHS)}")
    cores = ["c"] if check else ["c", "python"]
    found = []
    for name in names:
        if name in PEERS:
            if not check:  # the check is of streamframer's own counts
                found.append(("peer", name))
            continue
        found += [(core, name) for core in cores if core == "c" or name in PURE]
    return found


def version() -> str:
    return ".".join(platform.python_version_tuple()[:2])


def check(counts: dict[str, float], baseline: dict[str, float]) -> list[str]:
    """The paths that need more than TOLERANCE more instructions than their baseline."""
    failures = []
    for k, value in counts.items():
        base = baseline.get(k)
        if base is None or k.startswith("peer/"):
            continue
        if value > base * (1 + TOLERANCE):
            failures.append(
                f"{k}: {value:,.0f} instructions per frame, baseline {base:,.0f} "
                f"(+{value / base - 1:.1%}, tolerance {TOLERANCE:.0%})"
            )
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--check",
        action="store_true",
        help="the compiled core's paths only; exit 1 when one exceeds its baseline by 10%%",
    )
    group.add_argument(
        "--update-baseline",
        action="store_true",
        help=f"write the counts into {BASELINE.name} for this Python",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATH",
        help=f"count only these (comma-separated): {', '.join(PATHS)}",
    )
    parser.add_argument("--jobs", type=int, default=2, help="callgrind runs at once (2)")
    parser.add_argument("--json", metavar="FILE", help="also write the counts to FILE")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: it counts the instructions", file=sys.stderr)
        return 2
    todo = selected(args.only, args.check)
    with ThreadPoolExecutor(args.jobs) as pool:
        values = list(pool.map(lambda job: count(*job), todo))
    counts = {key(core, name): value for (core, name), value in zip(todo, values)}
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"# Instructions per frame ({python}, callgrind)\n")
    print(report(counts) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(counts, indent=1) + "\n")
    baselines = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    if args.update_baseline:
        mine = baselines.setdefault(version(), {})
        mine.update({k: round(v, 1) for k, v in counts.items()})
        BASELINE.write_text(json.dumps(baselines, indent=1, sort_keys=True) + "\n")
        print(f"{BASELINE.name} updated for CPython {version()}")
        return 0
    if args.check:
        baseline = baselines.get(version())
        if baseline is None:
            print(
                f"no baseline for CPython {version()} in {BASELINE.name}: "
                "run benchmarks/instructions.py --update-baseline",
                file=sys.stderr,
            )
            return 1
        failures = check(counts, baseline)
        if failures:
            print(
                "instruction counts above their baseline:\n  " + "\n  ".join(failures),
                file=sys.stderr,
            )
            print(
                f"If the change is meant to cost this, run "
                f"`python benchmarks/instructions.py --update-baseline` with CPython "
                f"{version()} and commit {BASELINE.name}.",
                file=sys.stderr,
            )
            return 1
        print(f"every path within {TOLERANCE:.0%} of its baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
