"""Benchmarks: streamframer against the other ways Python frames byte streams.

    python benchmarks/run.py            # the full run (a few minutes)
    python benchmarks/run.py --quick    # about 30 s
    python benchmarks/run.py --smoke    # tiny sizes, a couple of seconds: checks, not numbers
    python benchmarks/run.py --only lines64,tcp64

Everything runs in one process on identical inputs (the loopback sender excepted), best of N,
every run verified. Prints Markdown tables on stdout, progress on stderr. Exits 1 if any
implementation framed a workload wrongly; a missed target never changes the exit status.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

from framebench import loopback, memory, peers, report, sf_paths
from framebench import workloads as w
from framebench.timing import Expected, Result, allocation_cost, measure
from framebench.workloads import KiB, MiB, Workload

import streamframer


@dataclass(frozen=True)
class Sizes:
    repeats: int
    lines64: int
    crlf64: int
    lines4k: int
    frames1m: tuple[int, int]  # count, frame size
    frame16m: int
    frame64m: int
    prefixed64: int
    ieee1m: tuple[int, int]  # count, block size
    tcp64: int
    tcp8k: int
    memory: tuple[int, int, int]  # payload size, stream size, read size


MODES = {
    "full": Sizes(
        repeats=5,
        lines64=1 << 18,
        crlf64=1 << 17,
        lines4k=1 << 13,
        frames1m=(32, MiB),
        frame16m=16 * MiB,
        frame64m=64 * MiB,
        prefixed64=1 << 18,
        ieee1m=(32, MiB),
        tcp64=1 << 19,
        tcp8k=1 << 13,
        memory=(MiB, 256 * MiB, 64 * KiB),
    ),
    # The large frames are 4 and 16 MiB here: still a 4x step for the per-byte comparison.
    "quick": Sizes(
        repeats=3,
        lines64=1 << 15,
        crlf64=1 << 14,
        lines4k=1 << 10,
        frames1m=(4, MiB),
        frame16m=4 * MiB,
        frame64m=16 * MiB,
        prefixed64=1 << 15,
        ieee1m=(4, MiB),
        tcp64=1 << 16,
        tcp8k=1 << 10,
        memory=(MiB, 32 * MiB, 64 * KiB),
    ),
    "smoke": Sizes(
        repeats=1,
        lines64=1 << 11,
        crlf64=1 << 10,
        lines4k=64,
        frames1m=(2, 64 * KiB),
        frame16m=256 * KiB,
        frame64m=MiB,
        prefixed64=1 << 11,
        ieee1m=(2, 64 * KiB),
        tcp64=1 << 11,
        tcp8k=64,
        memory=(64 * KiB, MiB, 4 * KiB),
    ),
}

# Workload key -> how to build it at the chosen sizes.
IN_MEMORY: dict[str, Callable[[Sizes], Workload]] = {
    "lines64": lambda s: w.lines("lines64", s.lines64, 64, 64 * KiB),
    "crlf64": lambda s: w.crlf_random_reads("crlf64", s.crlf64, 64, 1, 100),
    "lines4k": lambda s: w.lines("lines4k", s.lines4k, 4 * KiB, 64 * KiB),
    "frames1m": lambda s: w.lines("frames1m", s.frames1m[0], s.frames1m[1], 4 * KiB, noun="frames"),
    "frame16m": lambda s: w.lines("frame16m", 1, s.frame16m, KiB),
    "frame64m": lambda s: w.lines("frame64m", 1, s.frame64m, KiB),
    "prefixed64": lambda s: w.length_prefixed("prefixed64", s.prefixed64, 64, 64 * KiB),
    "ieee1m": lambda s: w.ieee_blocks("ieee1m", s.ieee1m[0], s.ieee1m[1], 64 * KiB),
}
LOOPBACK = {"tcp64": 64, "tcp8k": 8 * KiB}
ALL = [*IN_MEMORY, *LOOPBACK, "memory"]

# Peers left out where they are quadratic in the frame size: one run would take minutes.
QUADRATIC = {
    "frame16m": ("twisted_lines", "naive_lines"),
    "frame64m": ("twisted_lines", "naive_lines"),
}
_QUADRATIC_NOTE = "skipped: quadratic in the frame size (re-joins the whole buffer per read)"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_in_memory(key: str, sizes: Sizes) -> tuple[str, list[Result]]:
    started = time.perf_counter()
    wl = IN_MEMORY[key](sizes)
    impls = sf_paths.impls(wl)
    found, missing = peers.impls(wl, exclude=QUADRATIC.get(key, ()))
    impls += found
    log(f"[{key}] {wl.title}: {len(impls)} implementations, {len(wl.chunks)} reads")
    expected = Expected(wl.frames, wl.payload_bytes, wl.stream_bytes, wl.digest)
    results = measure("in-memory", key, impls, expected, sizes.repeats)
    skipped = [(name, "not installed") for name in missing]
    if key in QUADRATIC:
        skipped += [
            (peers.TWISTED, _QUADRATIC_NOTE),
            ("naive bytes concat + find", _QUADRATIC_NOTE),
        ]
    for name, note in skipped:
        results.append(Result("in-memory", key, name, "peer", wl.stream_bytes, note=note))
    log(f"[{key}] done in {time.perf_counter() - started:.1f} s")
    return wl.title, results


def load() -> str:
    """The 1-minute load average: how busy the machine was (the numbers are relative to it)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:  # pragma: no cover - platforms without it
        return "unknown"


def header(mode: str, sizes: Sizes, load_at_start: str) -> str:
    versions = [f"streamframer {streamframer.__version__}"]
    for module in ("twisted", "h11"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            versions.append(f"{module} not installed")
    python = f"{platform.python_implementation()} {platform.python_version()}"
    today = datetime.date.today().isoformat()
    return (
        f"# streamframer benchmarks ({mode})\n\n"
        f"{python} on {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {today}; "
        f"{', '.join(versions)}. Best of {sizes.repeats}; ratios are of the same run. "
        f"Load average {load_at_start} at the start, {load()} at the end.\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="smaller sizes: about 30 s")
    group.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these (comma-separated, repeatable): {', '.join(ALL)}",
    )
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    sizes = MODES[mode]
    selected = [name for arg in args.only for name in arg.split(",") if name] or ALL
    unknown = sorted(set(selected) - set(ALL))
    if unknown:
        parser.error(f"unknown name(s) {', '.join(unknown)}; choose from {', '.join(ALL)}")

    load_at_start = load()
    out: list[str] = []
    by_key: dict[str, list[Result]] = {}
    in_memory = []
    for key in (k for k in IN_MEMORY if k in selected):
        title, results = run_in_memory(key, sizes)
        by_key[key] = results
        in_memory.append((title, results))
    if in_memory:
        out.append("## In memory: the same reads for every implementation\n")
        out.append(report.results_table(in_memory) + "\n")

    per_byte = None
    if "frame16m" in by_key and "frame64m" in by_key:
        reference = tuple(
            allocation_cost(by_key[key][0].stream_bytes, sizes.repeats)
            for key in ("frame16m", "frame64m")
        )
        text, per_byte = report.per_byte_table(by_key["frame16m"], by_key["frame64m"], reference)
        out.append("## Per-byte cost of one large frame in 1 KiB reads: must stay flat\n")
        out.append(text + "\n")

    tcp = [key for key in LOOPBACK if key in selected]
    if tcp:
        counts = {"tcp64": sizes.tcp64, "tcp8k": sizes.tcp8k}
        configs = [(LOOPBACK[key], counts[key]) for key in tcp]
        sender = loopback.Sender(configs)
        titled = []
        try:
            for key, (frame_size, count) in zip(tcp, configs):
                log(f"[{key}] {frame_size} B lines over loopback TCP")
                title, results = loopback.measure(sender, key, frame_size, count, sizes.repeats)
                by_key[key] = results
                titled.append((title, results))
        finally:
            sender.close()
        out.append("## Loopback TCP: the sender is another process\n")
        out.append(report.results_table(titled) + "\n")

    peaks = idle = None
    if "memory" in selected:
        payload, stream, read_size = sizes.memory
        log(f"[memory] {report.size(payload)} frames over a {report.size(stream)} stream")
        found, bound = memory.peaks(payload, stream, read_size)
        idle = memory.idle_manager_bytes()
        peaks = (found, bound)
        out.append(
            f"## Memory: frames of {report.size(payload)} + b'\\n' over a {report.size(stream)} "
            "stream, "
            f"{report.size(read_size)} reads; bound = largest frame + 2 x read size = "
            f"{report.size(bound)}\n"
        )
        out.append(report.memory_table(found, bound, idle) + "\n")

    out.insert(0, header(mode, sizes, load_at_start))
    found_targets = report.targets(by_key, per_byte, peaks, idle)
    if found_targets:
        out.append("## Targets\n")
        out.append(report.targets_table(found_targets) + "\n")
    print("\n".join(out))

    wrong = [r for results in by_key.values() for r in results if r.error is not None]
    wrong += [p for p in (peaks[0] if peaks else []) if p.error is not None]
    if wrong:
        log(f"FAILED: {len(wrong)} implementation(s) framed wrongly or crashed (see the tables)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
