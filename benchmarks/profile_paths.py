"""Where the time goes on streamframer's per-frame path: layer by layer, then by function.

    python benchmarks/profile_paths.py            # both tables, a few seconds
    python benchmarks/profile_paths.py --cprofile per_frame --workload crlf64

Layers: the same loop, timed (CPU time, best of N, interleaved) with one piece of work added at
a time, so each difference is the cost of that piece. Per frame on 64 B lines in 64 KiB reads,
where per-frame overhead dominates; per read on one large frame in 1 KiB reads, where per-read
overhead does. Then cProfile of one path, normalised per frame: how many Python-level calls
one frame costs, and where (cProfile inflates call overhead, so read it for counts and shares,
and the layer table for nanoseconds). Public API only.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import time
from typing import Any, Callable

from framebench import peers, sf_paths
from framebench import workloads as w

from streamframer import StreamClosed, read_with_rule, until_delim

LF = until_delim(b"\n")


def _best(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            gc.collect()
            gc.disable()
            start = time.process_time()
            fn()
            elapsed = time.process_time() - start
            gc.enable()
            best[name] = min(best[name], elapsed)
    return best


def per_frame_layers(wl: w.Workload) -> dict[str, Callable[[], Any]]:
    def loop_only() -> None:
        for _ in range(wl.frames):
            pass

    def sans_io(use_len: bool) -> Callable[[], None]:
        def run() -> None:
            mgr = sf_paths.new_manager(wl)
            total = 0
            for chunk in wl.chunks:
                mgr.feed(chunk)
                while (frame := mgr.next_frame(LF)) is not None:
                    if use_len:
                        total += len(frame)
                    frame.consume()

        return run

    def socket_shaped(work: str) -> Callable[[], None]:
        def run() -> None:
            source = sf_paths.ChunkSource(wl.chunks)
            mgr = sf_paths.new_manager(wl)
            total = 0
            try:
                while True:
                    frame = read_with_rule(source, mgr, LF)
                    if frame is None:
                        continue
                    if work == "len":
                        total += len(frame)
                    elif work == "bytes":
                        total += len(bytes(frame))
                    frame.consume()
            except StreamClosed:
                pass

        return run

    return {
        "loop over the frames, nothing else": loop_only,
        "feed + next_frame + consume": sans_io(False),
        "  + len(frame)": sans_io(True),
        "read_with_rule + consume": socket_shaped("none"),
        "  + len(frame) (the benchmark's per-frame row)": socket_shaped("len"),
        "  + bytes(frame)": socket_shaped("bytes"),
        "asyncio readuntil + len(line) (reference)": lambda: peers.asyncio_readuntil(wl, len),
    }


def per_read_layers(wl: w.Workload) -> dict[str, Callable[[], Any]]:
    def source_only() -> None:
        source = sf_paths.ChunkSource(wl.chunks)
        view = memoryview(bytearray(wl.read_size))
        while source.recv_into(view):
            pass

    def fed() -> None:
        sf_paths.sans_io(wl, LF, len)

    def reserve_commit() -> None:
        source = sf_paths.ChunkSource(wl.chunks)
        mgr = sf_paths.new_manager(wl)
        while True:
            view = mgr.reserve()
            size = source.recv_into(view)
            del view
            mgr.commit(size)
            if not size:
                return
            frame = mgr.next_frame(LF)
            if frame is not None:
                frame.consume()

    return {
        "the fake source's recv_into alone": source_only,
        "feed + next_frame": fed,
        "reserve + recv_into + commit + next_frame": reserve_commit,
        "read_with_rule loop (the per-frame row)": lambda: sf_paths.per_frame(wl, LF, len),
        "iter_frames": lambda: sf_paths.iterator(wl, LF, len),
        "asyncio readuntil (reference)": lambda: peers.asyncio_readuntil(wl, len),
    }


def layer_table(title: str, unit: str, count: int, best: dict[str, float]) -> str:
    lines = [f"| {title} | ns/{unit} |", "|---|---:|"]
    lines += [f"| {name} | {seconds / count * 1e9:.0f} |" for name, seconds in best.items()]
    return "\n".join(lines)


def profile(wl: w.Workload, path: str, top: int) -> str:
    fn = dict((f.__name__, f) for _, f in sf_paths.PATHS)[path]
    rule, _ = sf_paths.builtin_rule(wl.framing)
    fn(wl, rule, len)  # warm up
    profiler = cProfile.Profile()
    profiler.enable()
    fn(wl, rule, len)
    profiler.disable()
    stats: Any = pstats.Stats(profiler).stats
    total = sum(entry[2] for entry in stats.values())
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    lines = [
        f"cProfile of `{path}` on {wl.title} ({wl.frames} frames, {len(wl.chunks)} reads)\n",
        "| function | calls/frame | share of own time |",
        "|---|---:|---:|",
    ]
    for (filename, line, name), (_, calls, own, _, _) in rows:
        where = f"{filename.rsplit('/', 1)[-1]}:{line}({name})" if line else name
        lines.append(f"| `{where}` | {calls / wl.frames:.2f} | {own / total:.0%} |")
    return "\n".join(lines)


WORKLOADS: dict[str, Callable[[], w.Workload]] = {
    "lines64": lambda: w.lines("lines64", 1 << 15, 64, 64 * 1024),
    "crlf64": lambda: w.crlf_random_reads("crlf64", 1 << 13, 64, 1, 100),
    "frame4m": lambda: w.lines("frame4m", 1, 4 << 20, 1024),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cprofile", default="per_frame", help="a path: per_frame, sans_io, ...")
    parser.add_argument("--workload", default="lines64", choices=sorted(WORKLOADS))
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()

    lines = WORKLOADS["lines64"]()
    best = _best(per_frame_layers(lines), args.repeats)
    print(layer_table(f"per frame: {lines.title}", "frame", lines.frames, best) + "\n")
    big = WORKLOADS["frame4m"]()
    best = _best(per_read_layers(big), args.repeats)
    print(layer_table(f"per read: {big.title}", "read", len(big.chunks), best) + "\n")
    print(profile(WORKLOADS[args.workload](), args.cprofile, args.top))


if __name__ == "__main__":
    main()
