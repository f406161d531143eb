"""One large frame in 1 KiB reads, at several sizes: the per-byte cost must stay flat.

Every size is a workload of its own (one line of that many bytes, ``b"\\n"`` included), and the
rounds interleave all of them: round 1 runs every implementation on every size, then round 2...
so that a slow spell on the machine spreads over every size alike. A reference row allocates and
fills one block of the frame's size without framing anything: what memory itself costs there.

It runs in a subprocess, ``python -m framebench.bigframes``, started with ``MALLOC_MMAP_THRESHOLD_``
set in its environment (glibc reads it once, at startup). By default glibc's threshold moves: it
rises to the size of each mmapped block freed, up to 32 MiB, after which blocks below it are
reused from the heap, already paged in, and blocks above it come from fresh pages that fault in
on first touch. Frames of 1-16 MiB would then be timed in warm memory and 64 MiB ones in cold,
and the step would be glibc's, not the framer's. Fixed at 128 KiB (glibc's starting value), every
block from 128 KiB up comes from fresh pages at every size: like is compared with like.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from . import peers, sf_paths
from .timing import Case, Expected, Impl, Ratio, Result, measure_cases
from .workloads import KiB, Workload, lines

MMAP_THRESHOLD = 128 * KiB
READ_SIZE = KiB
REFERENCE = "reference: allocate and fill one block of the frame's size, no framing"
# Left out: they re-join the whole buffer on every read, so one frame costs time quadratic in
# its size (the 1 MiB frames in 4 KiB reads show it at a size that still finishes).
QUADRATIC = {"twisted_lines": peers.TWISTED, "naive_lines": "naive bytes concat + find"}
QUADRATIC_NOTE = "skipped: quadratic in the frame size (re-joins the whole buffer per read)"
BENCHMARKS_DIR = Path(__file__).resolve().parent.parent


def workload(size: int) -> Workload:
    return lines(f"frame{size}", 1, size, READ_SIZE)


def _reference(size: int) -> Impl:
    def allocate(measure: object) -> tuple[int, int]:
        block = b"\x01" * size
        return 0, len(block)

    return Impl(REFERENCE, allocate, "baseline")


def measure(sizes: Sequence[int], rounds: int) -> list[tuple[str, list[Result]]]:
    """Every implementation on one frame of each size, ``rounds`` interleaved rounds (run this
    under the fixed threshold: :func:`run` does)."""
    cases: list[Case] = []
    titled = []
    for size in sizes:
        wl = workload(size)
        found, missing = peers.impls(wl, exclude=tuple(QUADRATIC))
        expected = Expected(wl.frames, wl.payload_bytes, wl.stream_bytes, wl.digest)
        mine = []
        for impl in [*sf_paths.impls(wl), *found, _reference(size)]:
            result = Result("in-memory", wl.key, impl.name, impl.role, wl.stream_bytes)
            cases.append(Case(impl, expected, result))
            mine.append(result)
        for name in missing:
            mine.append(
                Result("in-memory", wl.key, name, "peer", wl.stream_bytes, note="not installed")
            )
        for name in QUADRATIC.values():
            mine.append(
                Result("in-memory", wl.key, name, "peer", wl.stream_bytes, note=QUADRATIC_NOTE)
            )
        titled.append((wl.title, mine))
    measure_cases(cases, rounds)
    return titled


def run(sizes: Sequence[int], rounds: int) -> list[tuple[str, list[Result]]]:
    """:func:`measure` in a subprocess with ``MALLOC_MMAP_THRESHOLD_`` fixed; its progress goes
    to stderr, its results come back as JSON."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD)}
    warnings = [f"-W{option}" for option in sys.warnoptions]
    args = [str(size) for size in sizes]
    done = subprocess.run(
        [sys.executable, *warnings, "-m", "framebench.bigframes", "--rounds", str(rounds), *args],
        cwd=BENCHMARKS_DIR,
        env=env,
        stdout=subprocess.PIPE,
        check=True,
    )
    return [
        (title, [Result(**fields) for fields in results])
        for title, results in json.loads(done.stdout)
    ]


def per_byte_spread(results: Sequence[Result]) -> Ratio | None:
    """How far apart the per-byte costs of one implementation are across sizes: the largest
    ns/byte over the smallest, each size's cost being its median round (and, beside it, its best
    round). Taking the median per size first matters: the largest over the smallest of several
    noisy values, taken round by round, grows with the noise even where the cost is flat."""
    if len(results) < 2 or not all(r.samples for r in results):
        return None
    medians = [statistics.median(r.samples) / r.stream_bytes for r in results]
    bests = [min(r.samples) / r.stream_bytes for r in results]
    return Ratio(max(medians) / min(medians), max(bests) / min(bests))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("sizes", type=int, nargs="+", help="frame sizes in bytes")
    args = parser.parse_args(argv)
    titled = measure(args.sizes, args.rounds)
    json.dump([(t, [dataclasses.asdict(r) for r in rs]) for t, rs in titled], sys.stdout)


if __name__ == "__main__":
    main()
