"""Counting a path's instructions per frame with callgrind (see ``benchmarks/instructions.py``).

Each path of :mod:`framebench.counted` runs in a subprocess under ``valgrind --tool=callgrind
--dump-before=os_getppid``: a warm-up over SMALL reads, then SMALL reads, then LARGE reads, each
followed by ``os.getppid()``, so that each run's instructions are dumped to a file of their own.
Instructions per frame are the difference between the last two over the difference in frames:
start-up, imports and setup cancel out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .counted import FRAMES_PER_READ, PATHS
from .report import table

HERE = Path(__file__).resolve().parent.parent
#: The peers' paths; every other path is streamframer's, counted on each core.
PEERS = (
    "readline",
    "readline_file",
    "readline_bytesio",
    "asyncio_readuntil",
    "asyncio_server",
    "split",
)
#: Reads per run (warm-up and small, large): 1024 frames a read.
SIZES = {"c": (2, 12), "python": (1, 3), "peer": (2, 12)}


def key(core: str, name: str) -> str:
    return f"{core}/{name}"


def count(core: str, name: str) -> float:
    """Instructions per frame of one path on one core ("peer" for the peers)."""
    small, large = SIZES[core]
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
    env.pop("STREAMFRAMER_NO_EXTENSIONS", None)
    if core == "python":
        env["STREAMFRAMER_NO_EXTENSIONS"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--dump-before=os_getppid",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "framebench.counted",
            name,
            str(small),
            str(large),
        ]
        done = subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{key(core, name)} failed:\n{done.stderr[-3000:]}")
        if core == "c" and done.stdout.strip() != "c":
            raise RuntimeError(f"{key(core, name)} ran on the {done.stdout.strip()} core")
        # out.1: start-up and the warm-up, out.2: the small run, out.3: the large run.
        small_run, large_run = (_total(Path(f"{out}.{n}")) for n in (2, 3))
    return (large_run - small_run) / ((large - small) * FRAMES_PER_READ)


def _total(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def report(counts: Mapping[str, float]) -> str:
    """The counts as a Markdown table, each over its peer's (and, for the paths compared with
    ``readline``, over ``readline`` from a file too), then bytes(frame) against tobytes()."""
    rows = []
    on_file = counts.get(key("peer", "readline_file"))
    for k, value in counts.items():
        core, name = k.split("/")
        _, _, peer, what = PATHS[name]
        theirs = counts.get(key("peer", peer)) if peer else None
        versus = f"{value / theirs:.2f}" if theirs else "-"
        file_versus = f"{value / on_file:.2f}" if on_file and peer == "readline" else "-"
        rows.append([k, what, f"{value:,.0f}", peer or "-", versus, file_versus])
    header = ["path", "per frame", "instructions", "peer", "x peer's", "x file readline's"]
    out = table(header, rows, numeric=3)
    for core in ("c", "python"):
        seed, plain, tobytes = (
            counts.get(key(core, n)) for n in ("seed_loop", "per_frame", "tobytes_loop")
        )
        if seed and plain and tobytes:
            out += (
                f"\n\n{core} core: bytes(frame) in the loop costs {seed - plain:,.0f} "
                f"instructions, frame.tobytes() {tobytes - plain:,.0f}: ratio "
                f"{(seed - plain) / (tobytes - plain):.2f}"
            )
    return out
