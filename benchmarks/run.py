"""Benchmarks: streamframer against the other ways Python frames byte streams.

    python benchmarks/run.py            # the full run (a few minutes)
    python benchmarks/run.py --quick    # about a minute
    python benchmarks/run.py --smoke    # tiny sizes, a few seconds: checks, not numbers
    python benchmarks/run.py --only lines64,tcp64
    python benchmarks/run.py --instructions   # also instructions per frame (callgrind)

Every implementation gets identical inputs, in one process (the large frames run in a subprocess
of their own, with glibc's mmap threshold fixed; the loopback sender is another process); rounds
are interleaved, medians and bests reported, every run verified. Prints Markdown tables on stdout,
progress on stderr. Exits 1 if any implementation framed a workload wrongly; a missed target
never changes the exit status. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

from framebench import (
    aioserver,
    bigframes,
    callgrind,
    loopback,
    memory,
    peers,
    queries,
    report,
    sf_paths,
    targets,
)
from framebench import workloads as w
from framebench.timing import Expected, Result, measure
from framebench.workloads import KiB, MiB, Workload

import streamframer


@dataclass(frozen=True)
class Sizes:
    rounds: int
    lines64: int
    crlf64: int
    lines4k: int
    frames1m: tuple[int, int]  # count, frame size
    big_frames: tuple[int, ...]  # one frame of each size, smallest first
    big_target: int  # the one compared with asyncio
    prefixed64: int
    ieee1m: tuple[int, int]  # count, block size
    custom: tuple[int, int]  # count, frame size (1 KiB reads)
    tcp64: int
    tcp8k: int
    memory: tuple[int, int, int]  # payload size, stream size, read size
    queries: int  # one query loop's length
    aioserver: tuple[int, int]  # connections, lines in all


MODES = {
    "full": Sizes(
        rounds=7,
        lines64=1 << 18,
        crlf64=1 << 17,
        lines4k=1 << 13,
        frames1m=(32, MiB),
        big_frames=(MiB, 4 * MiB, 16 * MiB, 64 * MiB),
        big_target=16 * MiB,
        prefixed64=1 << 18,
        ieee1m=(32, MiB),
        custom=(256, 64 * KiB),
        tcp64=1 << 19,
        tcp8k=1 << 13,
        memory=(MiB, 256 * MiB, 64 * KiB),
        queries=1000,
        aioserver=(100, 500_000),
    ),
    "quick": Sizes(
        rounds=5,
        lines64=1 << 15,
        crlf64=1 << 14,
        lines4k=1 << 10,
        frames1m=(4, MiB),
        big_frames=(MiB, 4 * MiB, 16 * MiB),
        big_target=16 * MiB,
        prefixed64=1 << 15,
        ieee1m=(4, MiB),
        custom=(64, 64 * KiB),
        tcp64=1 << 16,
        tcp8k=1 << 10,
        memory=(MiB, 32 * MiB, 64 * KiB),
        queries=1000,
        aioserver=(100, 100_000),
    ),
    "smoke": Sizes(
        rounds=1,
        lines64=1 << 11,
        crlf64=1 << 10,
        lines4k=64,
        frames1m=(2, 64 * KiB),
        big_frames=(64 * KiB, 256 * KiB),
        big_target=256 * KiB,
        prefixed64=1 << 11,
        ieee1m=(2, 64 * KiB),
        custom=(8, 4 * KiB),
        tcp64=1 << 11,
        tcp8k=64,
        memory=(64 * KiB, MiB, 4 * KiB),
        queries=50,
        aioserver=(10, 2000),
    ),
}

# Workload key -> how to build it at the chosen sizes.
IN_MEMORY: dict[str, Callable[[Sizes], Workload]] = {
    "lines64": lambda s: w.lines("lines64", s.lines64, 64, 64 * KiB),
    "crlf64": lambda s: w.crlf_random_reads("crlf64", s.crlf64, 64, 1, 100),
    "lines4k": lambda s: w.lines("lines4k", s.lines4k, 4 * KiB, 64 * KiB),
    "frames1m": lambda s: w.lines("frames1m", s.frames1m[0], s.frames1m[1], 4 * KiB, noun="frames"),
    "prefixed64": lambda s: w.length_prefixed("prefixed64", s.prefixed64, 64, 64 * KiB),
    "ieee1m": lambda s: w.ieee_blocks("ieee1m", s.ieee1m[0], s.ieee1m[1], 64 * KiB),
    "custom_u32": lambda s: w.length_prefixed("custom_u32", *s.custom, KiB),
    "custom_ieee": lambda s: w.ieee_blocks("custom_ieee", *s.custom, KiB),
}
# Where the pure core gets a per-frame row beside the compiled one.
PURE = ("lines64", "crlf64")
# streamframer over a socket against itself sans-IO, with a user-written rule: no peers.
CUSTOM = ("custom_u32", "custom_ieee")
LOOPBACK = {"tcp64": 64, "tcp8k": 8 * KiB}
ALL = [*IN_MEMORY, "bigframes", *LOOPBACK, "aioserver", "query", "memory"]
# What --instructions counts: the targets' paths and peers.
COUNTED = [
    *(("c", name) for name in ("per_frame", "seed_loop", "tobytes_loop", "iter_frames")),
    *(("c", name) for name in ("iter_payloads", "drain")),
    *(("peer", name) for name in ("readline", "readline_bytesio", "asyncio_readuntil", "split")),
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_in_memory(key: str, sizes: Sizes) -> tuple[str, list[Result]]:
    started = time.perf_counter()
    wl = IN_MEMORY[key](sizes)
    missing: list[str] = []
    if key in CUSTOM:
        impls = sf_paths.custom_rule_impls(wl)
    else:
        impls = sf_paths.impls(wl, pure=key in PURE)
        found, missing = peers.impls(wl)
        impls += found
    log(f"[{key}] {wl.title}: {len(impls)} implementations, {len(wl.chunks)} reads")
    expected = Expected(wl.frames, wl.payload_bytes, wl.stream_bytes, wl.digest)
    results = measure("in-memory", key, impls, expected, sizes.rounds)
    for name in missing:
        results.append(
            Result("in-memory", key, name, "peer", wl.stream_bytes, note="not installed")
        )
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
    for module in ("twisted", "h11", "uvloop"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            versions.append(f"{module} not installed")
    python = f"{platform.python_implementation()} {platform.python_version()}"
    today = datetime.date.today().isoformat()
    return (
        f"# streamframer benchmarks ({mode})\n\n"
        f"{python} on {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {today}; "
        f"{', '.join(versions)}; core in use: {streamframer.IMPLEMENTATION}. "
        f"{sizes.rounds} interleaved rounds: rates are medians, *best* is the best round, ratios "
        "are medians of per-round ratios within this run. "
        f"Load average {load_at_start} at the start, {load()} at the end.\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="smaller sizes: about a minute")
    group.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these (comma-separated, repeatable): {', '.join(ALL)}",
    )
    parser.add_argument(
        "--instructions",
        nargs="?",
        const="count",
        metavar="FILE",
        help="also give instructions per frame: counted now under callgrind, or read from FILE "
        "(written by benchmarks/instructions.py --json)",
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

    big = None
    if "bigframes" in selected:
        started = time.perf_counter()
        names = ", ".join(report.size(n) for n in sizes.big_frames)
        log(f"[bigframes] one frame of {names} in 1 KiB reads, in a subprocess")
        big = bigframes.run(sizes.big_frames, sizes.rounds)
        log(f"[bigframes] done in {time.perf_counter() - started:.1f} s")
        out.append(
            "## One large frame in 1 KiB reads, MALLOC_MMAP_THRESHOLD_="
            f"{bigframes.MMAP_THRESHOLD}\n"
        )
        out.append(report.results_table(big) + "\n")
        out.append("## Per-byte cost of one large frame: must stay flat\n")
        out.append(report.per_byte_table(big) + "\n")
        for _, results in big:
            by_key[results[0].workload] = results

    tcp = [key for key in LOOPBACK if key in selected]
    if tcp:
        counts = {"tcp64": sizes.tcp64, "tcp8k": sizes.tcp8k}
        configs = [(LOOPBACK[key], counts[key]) for key in tcp]
        sender = loopback.Sender(configs)
        titled = []
        try:
            for key, (frame_size, count) in zip(tcp, configs):
                log(f"[{key}] {frame_size} B lines over loopback TCP")
                title, results = loopback.measure(sender, key, frame_size, count, sizes.rounds)
                by_key[key] = results
                titled.append((title, results))
        finally:
            sender.close()
        out.append("## Loopback TCP: the sender is another process\n")
        out.append(report.results_table(titled) + "\n")

    if "aioserver" in selected:
        connections, lines = sizes.aioserver
        log(f"[aioserver] {lines} lines over {connections} connections, clients in a subprocess")
        title, results = aioserver.measure(connections, lines, sizes.rounds)
        by_key["aioserver"] = results
        out.append(f"## {title}: server CPU time per frame\n")
        out.append(aioserver.table(results) + "\n")

    if "query" in selected:
        log(f"[query] {sizes.queries} queries over loopback TCP, CR commands, CR LF replies")
        title, results = queries.measure(sizes.queries, sizes.rounds)
        by_key["query"] = results
        out.append(f"## Query loop: {title}\n")
        out.append(queries.table(results) + "\n")

    peaks = None
    payload, stream, read_size = sizes.memory
    memory_label = f"{report.size(payload)} frames in {report.size(read_size)} reads"
    if "memory" in selected:
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

    counts = None
    if args.instructions == "count":
        started = time.perf_counter()
        log(f"[instructions] {len(COUNTED)} paths under callgrind")
        counts = {callgrind.key(*job): callgrind.count(*job) for job in COUNTED}
        log(f"[instructions] done in {time.perf_counter() - started:.1f} s")
    elif args.instructions:
        with open(args.instructions) as file:
            counts = json.load(file)
    if counts:
        out.append("## Instructions per frame (callgrind), 64 B lines in 64 KiB reads\n")
        out.append(callgrind.report(counts) + "\n")

    out.insert(0, header(mode, sizes, load_at_start))
    checked = targets.targets(by_key, big, sizes.big_target, peaks, memory_label, counts)
    out.append("## Targets\n")
    out.append(targets.targets_table(checked) + "\n")
    print("\n".join(out))

    wrong = [r for results in by_key.values() for r in results if r.error is not None]
    wrong += [p for p in (peaks[0] if peaks else []) if p.error is not None]
    if wrong:
        log(f"FAILED: {len(wrong)} implementation(s) framed wrongly or crashed (see the tables)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
