"""The project's performance targets, checked against ratios measured in this run.

Each speed target compares two implementations timed in the same interleaved rounds: the median
of their per-round ratios decides PASS or FAIL, the ratio of their best times is shown beside it.
A target whose rows did not run (not selected, a peer not installed) says "not measured".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Callable

from . import aioserver, bigframes, loopback, peers, queries, sf_paths
from .memory import Peak
from .report import size, table
from .timing import Ratio, Result, ratio

READLINE = "io.BufferedReader.readline (C)"
H11 = "h11 ReceiveBuffer.maybe_extract_next_line"
ITER_FRAMES = "streamframer iterator: iter_frames"
DRAIN = "streamframer batch: feed + drain"
SPLIT = "bytes.split floor (join + split, C)"
USER_RULE = "[user-written rule]"


@dataclass
class Target:
    label: str
    median: str
    best: str
    goal: str
    #: ``None`` when it was not measured.
    passed: bool | None
    #: The same comparison in instructions per frame (the peer's over ours), when counted.
    instructions: str = "-"


#: Instruction counts (``instructions.py``), keyed like its output: "c/per_frame", "peer/readline".
Counts = Mapping[str, float]


def _find(results: Sequence[Result] | None, name: str) -> Result | None:
    for result in results or ():
        if result.impl.startswith(name) and result.best:
            return result
    return None


def _not_measured(label: str, goal: str) -> Target:
    return Target(label, "not measured", "-", goal, None)


def faster(
    label: str, results: Sequence[Result] | None, mine: str, theirs: str, goal: float
) -> Target:
    """``mine`` must be at least ``goal`` times as fast as ``theirs``."""
    ours, other = _find(results, mine), _find(results, theirs)
    found = ratio(ours, other) if ours and other else None
    return _check(label, found, f">= {goal}x", lambda value: value >= goal)


def at_most(
    label: str, results: Sequence[Result] | None, mine: str, theirs: str, goal: float
) -> Target:
    """``mine`` may take at most ``goal`` times the time ``theirs`` takes."""
    ours, other = _find(results, mine), _find(results, theirs)
    found = ratio(other, ours) if ours and other else None  # ours' time / theirs'
    return _check(label, found, f"<= {goal}x", lambda value: value <= goal)


def _check(label: str, found: Ratio | None, goal: str, passes: Callable[[float], bool]) -> Target:
    if found is None:
        return _not_measured(label, goal)
    return Target(label, f"{found.median:.2f}x", f"{found.best:.2f}x", goal, passes(found.median))


def targets(
    results: Mapping[str, Sequence[Result]],
    big: Sequence[tuple[str, Sequence[Result]]] | None,
    big_target: int,
    peaks: tuple[Sequence[Peak], int] | None,
    memory_label: str,
    counts: Counts | None = None,
) -> list[Target]:
    """Every target, in the order of the project's table; ``big`` holds the one-frame workloads
    (smallest first), ``big_target`` the frame size compared with asyncio, ``peaks`` the memory
    peaks and their bound, ``counts`` the instruction counts if they were taken."""
    get = results.get
    sf, asyncio = sf_paths.PER_FRAME, peers.ASYNCIO
    counts = counts or {}

    def fewer(target: Target, mine: str, theirs: str) -> Target:
        if mine in counts and theirs in counts:
            target.instructions = f"{counts[theirs] / counts[mine]:.2f}x"
        return target

    found = [
        fewer(
            faster(
                "per frame, 64 B lines, 64 KiB reads: x asyncio", get("lines64"), sf, asyncio, 5
            ),
            "c/per_frame",
            "peer/asyncio_readuntil",
        ),
        fewer(
            faster(
                "per frame without a copy, 64 B lines, 64 KiB reads: x readline",
                get("lines64"),
                sf,
                READLINE,
                1.5,
            ),
            "c/per_frame",
            "peer/readline",
        ),
        fewer(
            faster(
                "the seed's loop with bytes(frame), 64 B lines: x readline",
                get("lines64"),
                sf_paths.SEED_LOOP,
                READLINE,
                1.2,
            ),
            "c/seed_loop",
            "peer/readline",
        ),
        faster("per frame, 64 B lines, 1-100 B reads: x asyncio", get("crlf64"), sf, asyncio, 2.5),
        faster("per frame, 64 B lines, 1-100 B reads: x h11", get("crlf64"), sf, H11, 1.3),
        faster(
            "iter_frames, 64 B lines: x Twisted", get("lines64"), ITER_FRAMES, peers.TWISTED, 1.5
        ),
        fewer(
            faster(
                "drain, 64 B lines: x bytes.split of the stream", get("lines64"), DRAIN, SPLIT, 1.0
            ),
            "c/drain",
            "peer/split",
        ),
        *_big_frames(big, big_target),
        faster(
            "loopback TCP, 64 B lines: x makefile('rb').readline",
            get("tcp64"),
            loopback.SF_PER_FRAME,
            loopback.READLINE,
            1.5,
        ),
        faster(
            "loopback TCP, 8 KiB lines: x raw recv_into",
            get("tcp8k"),
            loopback.SF_PER_FRAME,
            loopback.RAW,
            0.9,
        ),
        faster(
            "asyncio server, 100 connections, async for per frame: x asyncio streams readuntil "
            "(server CPU)",
            get("aioserver"),
            aioserver.SF_ASYNC_FOR,
            aioserver.ASYNCIO,
            3.5,
        ),
        faster(
            "asyncio server, the fastest documented way (batches()): x asyncio streams",
            get("aioserver"),
            aioserver.SF_BATCHES,
            aioserver.ASYNCIO,
            6,
        ),
        faster(
            "query loop, CR commands: encoder= x the rule encoding",
            get("query"),
            queries.ENCODER,
            queries.TODAY,
            0.95,
        ),
    ]
    for key, rule in (("custom_u32", "length_prefixed"), ("custom_ieee", "ieee_block")):
        found.append(
            at_most(
                f"{rule} (user-written), 1 KiB reads: socket time / sans-IO time",
                get(key),
                f"{sf_paths.OVER_SOCKET} {USER_RULE}",
                f"{sf_paths.SANS_IO} {USER_RULE}",
                1.3,
            )
        )
    pure = sf_paths.PURE_PER_FRAME if _find(get("lines64"), sf_paths.PURE_PER_FRAME) else sf
    found.append(
        faster("pure core, per frame, 64 B lines: x asyncio", get("lines64"), pure, asyncio, 1.0)
    )
    found.append(_memory(f"memory peak, {memory_label} (tracemalloc)", peaks))
    found += instruction_targets(counts)
    return found


def instruction_targets(counts: Counts) -> list[Target]:
    """The targets on instructions per frame (CPython 3.11 sets them); deterministic, so the
    one count is both median and best."""

    def share(label: str, mine: float | None, theirs: float | None, goal: float) -> Target:
        if mine is None or theirs is None:
            return _not_measured(label, f"<= {goal}")
        value = mine / theirs
        return Target(label, f"{value:.2f}", "-", f"<= {goal}", value <= goal)

    get = counts.get
    readline = get("peer/readline")
    plain = get("c/per_frame")
    copy, tobytes = get("c/seed_loop"), get("c/tobytes_loop")
    return [
        share(
            "instructions per frame, read_with_rule + consume / readline's", plain, readline, 1.0
        ),
        share(
            "instructions per frame, iter_frames / readline's", get("c/iter_frames"), readline, 0.6
        ),
        share(
            "instructions per frame, iter_payloads / readline's",
            get("c/iter_payloads"),
            readline,
            0.6,
        ),
        share(
            "instructions of bytes(frame) / frame.tobytes() in the loop",
            None if copy is None or plain is None else copy - plain,
            None if tobytes is None or plain is None else tobytes - plain,
            1.2,
        ),
    ]


def _big_frames(
    big: Sequence[tuple[str, Sequence[Result]]] | None, big_target: int
) -> list[Target]:
    vs_asyncio = f"one {size(big_target)} frame in 1 KiB reads: x asyncio"
    flat = "per-byte time across frame sizes: max / min"
    if not big:
        return [_not_measured(vs_asyncio, ">= 1.5x"), _not_measured(flat, "<= 1.3x")]
    sizes = [results[0].stream_bytes for _, results in big]
    flat = f"per-byte time, {size(sizes[0])} to {size(sizes[-1])} frames: max / min"
    at_target = [results for _, results in big if results[0].stream_bytes == big_target]
    first = faster(
        vs_asyncio, at_target[0] if at_target else None, sf_paths.PER_FRAME, peers.ASYNCIO, 1.5
    )
    mine = [_find(results, sf_paths.PER_FRAME) for _, results in big]
    spread = None if None in mine else bigframes.per_byte_spread([r for r in mine if r])
    return [first, _check(flat, spread, "<= 1.3x", lambda value: value <= 1.3)]


def _memory(label: str, peaks: tuple[Sequence[Peak], int] | None) -> Target:
    if peaks is None:
        return _not_measured(label, "<= largest frame + 2 reads")
    found, bound = peaks
    goal = f"<= {size(bound)}"
    for peak in found:
        if peak.name.startswith(sf_paths.PER_FRAME) and peak.error is None:
            return Target(label, size(peak.peak), "-", goal, peak.peak <= bound)
    return _not_measured(label, goal)


def targets_table(found: Sequence[Target]) -> str:
    rows = []
    for t in found:
        verdict = "-" if t.passed is None else "PASS" if t.passed else "FAIL"
        rows.append([t.label, t.median, t.best, t.instructions, t.goal, verdict])
    header = ["target", "median", "best", "instructions", "goal", "result"]
    return table(header, rows, numeric=5)
