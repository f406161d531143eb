"""Markdown tables: results, per-byte cost and memory. Times are medians of the rounds, with the
best beside them where it says something."""

from __future__ import annotations

from collections.abc import Sequence

from . import bigframes, sf_paths
from .memory import Peak
from .timing import Result, ratio


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
    """The row the ratios are relative to: streamframer's per-frame path (over a socket)."""
    for result in results:
        if result.impl.startswith((sf_paths.PER_FRAME, sf_paths.OVER_SOCKET)) and result.best:
            return result
    return None


def results_table(titled: Sequence[tuple[str, Sequence[Result]]]) -> str:
    rows = []
    for title, results in titled:
        ref = reference(results)
        for result in results:
            rows.append([title, result.impl, *_cells(result, ref)])
    header = ["workload", "implementation", "frames", "payload bytes", "frames/s", "throughput"]
    return table([*header, "best", "x sf per-frame"], rows, numeric=6)


def _cells(result: Result, ref: Result | None) -> list[str]:
    frames = "-" if result.frames is None else str(result.frames)
    if result.role == "baseline" and result.error is None:
        frames = "—"
    payload = "-" if result.payload_bytes is None else str(result.payload_bytes)
    counts = [frames, payload]
    if result.error is not None:
        return [*counts, f"**WRONG**: {result.error}", "", "", ""]
    best = result.best
    if best is None:
        return [*counts, result.note or "-", "", "", ""]
    relative = ratio(result, ref) if ref is not None else None
    frames = "—" if result.role == "baseline" else rate(result.frames_per_s)
    return [
        *counts,
        frames,
        throughput(result.bytes_per_s),
        throughput(result.stream_bytes / best),
        "-" if relative is None else f"{relative.median:.2f}",
    ]


def per_byte_table(titled: Sequence[tuple[str, Sequence[Result]]]) -> str:
    """ns/byte (median) of each implementation at each frame size, and how far apart they are."""
    by_impl: dict[str, list[Result]] = {}
    for _, results in titled:
        for result in results:
            if result.best is not None:
                by_impl.setdefault(result.impl, []).append(result)
    rows = []
    for name, results in by_impl.items():
        if len(results) != len(titled):
            continue
        cells = [f"{(r.median or 0.0) / r.stream_bytes * 1e9:.3f}" for r in results]
        spread = bigframes.per_byte_spread(results)
        cells += ["-", "-"] if spread is None else [f"{spread.median:.2f}", f"{spread.best:.2f}"]
        rows.append([name, *cells])
    sizes = [size(results[0].stream_bytes) for _, results in titled]
    header = ["implementation", *(f"ns/byte, {s}" for s in sizes), "max / min", "best"]
    return table(header, rows, numeric=len(sizes) + 2)


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
