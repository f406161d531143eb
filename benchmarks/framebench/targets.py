"""The project's performance targets, checked against ratios measured in this run.

Each speed target compares two implementations timed in the same interleaved rounds: the median
of their per-round ratios decides PASS or FAIL, the ratio of their best times is shown beside it.
A target whose rows did not run (not selected, a peer not installed) says "not measured".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Callable

from . import bigframes, loopback, peers, queries, sf_paths
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
) -> list[Target]:
    """Every target, in the order of the project's table; ``big`` holds the one-frame workloads
    (smallest first), ``big_target`` the frame size compared with asyncio, ``peaks`` the memory
    peaks and their bound."""
    get = results.get
    sf, asyncio = sf_paths.PER_FRAME, peers.ASYNCIO
    found = [
        faster("per frame, 64 B lines, 64 KiB reads: x asyncio", get("lines64"), sf, asyncio, 5),
        faster(
            "per frame, 64 B lines, 64 KiB reads: x readline", get("lines64"), sf, READLINE, 1.2
        ),
        faster("per frame, 64 B lines, 1-100 B reads: x asyncio", get("crlf64"), sf, asyncio, 2.5),
        faster("per frame, 64 B lines, 1-100 B reads: x h11", get("crlf64"), sf, H11, 1.3),
        faster(
            "iter_frames, 64 B lines: x Twisted", get("lines64"), ITER_FRAMES, peers.TWISTED, 1.5
        ),
        faster("drain, 64 B lines: x bytes.split of the stream", get("lines64"), DRAIN, SPLIT, 1.0),
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
    return found


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
        rows.append([t.label, t.median, t.best, t.goal, verdict])
    return table(["target", "median", "best", "goal", "result"], rows, numeric=4)
