"""Markdown tables: results, per-byte cost, memory, and the targets with PASS/FAIL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import loopback, peers, sf_paths
from .memory import Peak
from .timing import Result

H11 = "h11 ReceiveBuffer.maybe_extract_next_line"
ITER_FRAMES = "streamframer iterator: iter_frames"
ITER_PAYLOADS = "streamframer batch: iter_payloads"
DRAIN = "streamframer batch: feed + drain"


def rate(value: float) -> str:
    """Frames per second, e.g. ``2.10 M``."""
    for scale, unit in ((1e6, " M"), (1e3, " k")):
        if value >= scale:
            return f"{value / scale:.3g}{unit}".replace(".0 ", " ")
    return f"{value:.3g}"


def throughput(bytes_per_s: float) -> str:
    if bytes_per_s >= 1e9:
        return f"{bytes_per_s / 1e9:.2f} GB/s"
    return f"{bytes_per_s / 1e6:.3g} MB/s"


def size(nbytes: float) -> str:
    """``1.125 MiB``, ``216 B``: three decimals at most, trailing zeros dropped."""
    for scale, unit in ((1 << 20, "MiB"), (1 << 10, "KiB")):
        if nbytes >= scale:
            return f"{nbytes / scale:.3f}".rstrip("0").rstrip(".") + f" {unit}"
    return f"{nbytes:.0f} B"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: int = 0) -> str:
    """A Markdown table; the last ``numeric`` columns are right-aligned."""
    align = ["---"] * (len(header) - numeric) + ["---:"] * numeric
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def reference(results: Sequence[Result]) -> Result | None:
    """The row the ratios are relative to: streamframer's per-frame path."""
    for result in results:
        if result.impl.startswith(sf_paths.PER_FRAME) and result.best:
            return result
    return None


def results_table(titled: Sequence[tuple[str, Sequence[Result]]]) -> str:
    rows = []
    for title, results in titled:
        ref = reference(results)
        for result in results:
            rows.append([title, result.impl, *_cells(result, ref)])
    header = ["workload", "implementation", "frames", "payload bytes", "frames/s", "throughput"]
    return table([*header, "x sf per-frame"], rows, numeric=5)


def _cells(result: Result, ref: Result | None) -> list[str]:
    frames = "-" if result.frames is None else str(result.frames)
    if result.role == "baseline" and result.error is None:
        frames = "—"
    payload = "-" if result.payload_bytes is None else str(result.payload_bytes)
    counts = [frames, payload]
    if result.error is not None:
        return [*counts, f"**WRONG**: {result.error}", "", ""]
    if result.best is None:
        return [*counts, result.note or "-", "", ""]
    ratio = f"{ref.best / result.best:.2f}" if ref is not None and ref.best else "-"
    frames = "—" if result.role == "baseline" else rate(result.frames_per_s)
    return [*counts, frames, throughput(result.bytes_per_s), ratio]


def per_byte_table(
    small: Sequence[Result], large: Sequence[Result], reference: tuple[float, float]
) -> tuple[str, dict[str, float]]:
    """Per-byte cost of the large frame over that of the small one, per implementation, and
    the same for allocating and filling one block of each size (``reference``, in seconds)."""
    ratios = {}
    rows = []
    by_name = {r.impl: r for r in small}
    for result in large:
        other = by_name.get(result.impl)
        if not (result.best and other is not None and other.best):
            continue
        small_ns = other.best / other.stream_bytes * 1e9
        large_ns = result.best / result.stream_bytes * 1e9
        ratios[result.impl] = large_ns / small_ns
        cells = [f"{small_ns:.3f}", f"{large_ns:.3f}", f"{large_ns / small_ns:.2f}"]
        rows.append([result.impl, *cells])
    small_ns, large_ns = (t / r[0].stream_bytes * 1e9 for t, r in zip(reference, (small, large)))
    cells = [f"{small_ns:.3f}", f"{large_ns:.3f}", f"{large_ns / small_ns:.2f}"]
    rows.append(["reference: allocate and fill one block of the frame's size, no framing", *cells])
    small_size, large_size = size(small[0].stream_bytes), size(large[0].stream_bytes)
    header = ["implementation", f"ns/byte, {small_size}", f"ns/byte, {large_size}", "ratio"]
    return table(header, rows, numeric=3), ratios


def memory_table(peaks: Sequence[Peak], bound: int, idle: float) -> str:
    rows = []
    for peak in peaks:
        if peak.error is not None:
            rows.append([peak.name, f"**WRONG**: {peak.error}", "", ""])
            continue
        retained = "-" if peak.retained is None else size(peak.retained)
        rows.append([peak.name, size(peak.peak), f"{peak.peak / bound:.2f}", retained])
    rows.append(["idle BufferManager() (tracemalloc, mean of 1000)", size(idle), "-", "-"])
    header = ["path", "tracemalloc peak", "peak / bound", "held after the last frame"]
    return table(header, rows, numeric=3)


@dataclass
class Target:
    label: str
    measured: str
    goal: str
    passed: bool


def _find(results: Sequence[Result], name: str) -> Result | None:
    for result in results:
        if result.impl.startswith(name) and result.best:
            return result
    return None


def speed_target(
    label: str, results: Sequence[Result] | None, ours: str, theirs: str, goal: float
) -> Target | None:
    if results is None:
        return None
    mine, other = _find(results, ours), _find(results, theirs)
    if mine is None or other is None or not (mine.best and other.best):
        return Target(label, "not measured", f">= {goal}", False)
    ratio = other.best / mine.best
    return Target(label, f"{ratio:.2f}x", f">= {goal}x", ratio >= goal)


def targets(
    results: dict[str, Sequence[Result]],
    per_byte: dict[str, float] | None,
    peaks: tuple[Sequence[Peak], int] | None,
    idle: float | None,
) -> list[Target]:
    sf, asyncio, twisted = sf_paths.PER_FRAME, peers.ASYNCIO, peers.TWISTED
    get = results.get
    big, bigger = (_frame_size(results.get(key), default) for key, default in _LARGE)
    found = [
        speed_target("per-frame, 64 B lines vs asyncio", get("lines64"), sf, asyncio, 1.3),
        speed_target("per-frame, 1-100 B reads vs asyncio", get("crlf64"), sf, asyncio, 1.2),
        speed_target("per-frame, 1-100 B reads vs h11", get("crlf64"), sf, H11, 1.0),
        speed_target(
            "iter_frames, 64 B lines vs Twisted", get("lines64"), ITER_FRAMES, twisted, 1.0
        ),
        speed_target(
            "iter_payloads, 64 B lines vs Twisted", get("lines64"), ITER_PAYLOADS, twisted, 1.0
        ),
        speed_target("drain, 64 B lines vs Twisted", get("lines64"), DRAIN, twisted, 1.0),
        speed_target(f"per-frame, one {big} frame vs asyncio", get("frame16m"), sf, asyncio, 1.0),
    ]
    if per_byte is not None:
        ratio = per_byte.get(sf)
        measured = "not measured" if ratio is None else f"{ratio:.2f}"
        goal = "<= 1.3"
        found.append(
            Target(
                f"per-frame, {bigger} vs {big} frame per-byte cost",
                measured,
                goal,
                ratio is not None and ratio <= 1.3,
            )
        )
    tcp_sf, tcp_asyncio = loopback.SF_PER_FRAME, loopback.ASYNCIO
    found += [
        speed_target("loopback 64 B lines vs asyncio", get("tcp64"), tcp_sf, tcp_asyncio, 1.3),
        speed_target(
            "loopback 8 KiB lines vs raw recv_into", get("tcp8k"), tcp_sf, loopback.RAW, 0.9
        ),
    ]
    if peaks is not None:
        found.append(_memory_target(*peaks))
    if idle is not None:
        found.append(Target("idle BufferManager", size(idle), "<= 1 KiB", idle <= 1024))
    return [target for target in found if target is not None]


_LARGE = (("frame16m", "16 MiB"), ("frame64m", "64 MiB"))


def _frame_size(results: Sequence[Result] | None, default: str) -> str:
    """The size of the one-frame workloads, as measured (smaller in --quick and --smoke)."""
    return size(results[0].stream_bytes) if results else default


def _memory_target(peaks: Sequence[Peak], bound: int) -> Target:
    label = "memory peak, per-frame path, vs largest frame + 2x read size"
    for peak in peaks:
        if peak.name.startswith(sf_paths.PER_FRAME) and peak.error is None:
            goal = f"<= {size(bound)}"
            return Target(label, f"{size(peak.peak)}", goal, peak.peak <= bound)
    return Target(label, "not measured", "", False)


def targets_table(found: Sequence[Target]) -> str:
    rows = [[t.label, t.measured, t.goal, "PASS" if t.passed else "FAIL"] for t in found]
    return table(["target", "measured", "goal", "result"], rows, numeric=2)
