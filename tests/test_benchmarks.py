"""The benchmark harness: it runs, reports every row, and refuses to time a wrong framer.

No timing is asserted here: the smoke run checks the report's shape and that every
implementation counted the same frames and payload bytes; memory is checked by tracemalloc,
which counts bytes, not time.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import streamframer

pytestmark = pytest.mark.one_core

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import run  # noqa: E402
from framebench import aioserver, bigframes, memory, queries, sf_paths, timing  # noqa: E402
from framebench import workloads as w  # noqa: E402
from framebench.report import size  # noqa: E402

SF_PATHS = [
    "streamframer per-frame: read_with_rule + consume",
    "streamframer per-frame + bytes(frame)",
    "streamframer per-frame + frame.tobytes()",
    "streamframer sans-IO: feed + next_frame",
    "streamframer iterator: iter_frames",
    "streamframer batch: feed + drain",
    "streamframer batch: iter_payloads",
]
# With the compiled core in use, the pure core gets a per-frame row beside it.
PURE = ["streamframer pure core: per-frame read_with_rule + consume"]
if streamframer.IMPLEMENTATION == "python":
    PURE = []
ASYNCIO, TWISTED = "asyncio StreamReader.readuntil", "Twisted LineOnlyReceiver"
READLINE, NAIVE = "io.BufferedReader.readline (C)", "naive bytes concat + find"
FLOOR, H11 = "bytes.split floor (join + split, C)", "h11 ReceiveBuffer.maybe_extract_next_line"
LF_PEERS = [ASYNCIO, TWISTED, READLINE, NAIVE, FLOOR]
REFERENCE = "reference: allocate and fill one block of the frame's size, no framing"
EXPECTED_ROWS = {
    "lines64": SF_PATHS + PURE + LF_PEERS,
    "crlf64": [*SF_PATHS, *PURE, ASYNCIO, TWISTED, H11, NAIVE, FLOOR],
    "lines4k": SF_PATHS + LF_PEERS,
    "frames1m": SF_PATHS + LF_PEERS,
    "prefixed64": [
        *SF_PATHS,
        "asyncio StreamReader.readexactly",
        "Twisted Int32StringReceiver",
        "naive bytes concat + unpack",
    ],
    "ieee1m": [*SF_PATHS, "asyncio StreamReader.readexactly", "naive bytes concat + header parse"],
    "custom_u32": [
        "streamframer over a socket: read_with_rule + consume [user-written rule]",
        "streamframer sans-IO: feed + next_frame [user-written rule]",
        "streamframer over a socket: read_with_rule + consume",
        "streamframer sans-IO: feed + next_frame",
    ],
}
EXPECTED_ROWS["custom_ieee"] = EXPECTED_ROWS["custom_u32"]
BIG_ROWS = [*SF_PATHS, ASYNCIO, TWISTED, READLINE, NAIVE, FLOOR, REFERENCE]
TCP_ROWS = [
    "streamframer per-frame: read_with_rule + consume",
    "streamframer iterator: iter_frames",
    "streamframer batch: iter_payloads",
    "asyncio open_connection + readuntil",
    "socket.makefile('rb').readline (C)",
    "raw socket.recv_into (no framing)",
]
SMOKE = run.MODES["smoke"]
TARGETS = [
    "per frame, 64 B lines, 64 KiB reads: x asyncio",
    "per frame without a copy, 64 B lines, 64 KiB reads: x readline",
    "the seed's loop with bytes(frame), 64 B lines: x readline",
    "per frame, 64 B lines, 1-100 B reads: x asyncio",
    "per frame, 64 B lines, 1-100 B reads: x h11",
    "iter_frames, 64 B lines: x Twisted",
    "drain, 64 B lines: x bytes.split of the stream",
    # The large frames' sizes in --smoke mode.
    f"one {size(SMOKE.big_target)} frame in 1 KiB reads: x asyncio",
    f"per-byte time, {size(SMOKE.big_frames[0])} to {size(SMOKE.big_frames[-1])} frames: max / min",
    "loopback TCP, 64 B lines: x makefile('rb').readline",
    "loopback TCP, 8 KiB lines: x raw recv_into",
    "asyncio server, 100 connections, async for per frame: x asyncio streams readuntil "
    "(server CPU)",
    "asyncio server, the fastest documented way (batches()): x asyncio streams",
    "query loop, CR commands: encoder= x the rule encoding",
    "length_prefixed (user-written), 1 KiB reads: socket time / sans-IO time",
    "ieee_block (user-written), 1 KiB reads: socket time / sans-IO time",
    "pure core, per frame, 64 B lines: x asyncio",
    f"memory peak, {size(SMOKE.memory[0])} frames in {size(SMOKE.memory[2])} reads (tracemalloc)",
]
# Counted with run.py --instructions only (callgrind): not measured in the smoke run.
INSTRUCTION_TARGETS = [
    "instructions per frame, read_with_rule + consume / readline's",
    "instructions per frame, iter_frames / readline's",
    "instructions per frame, iter_payloads / readline's",
    "instructions of bytes(frame) / frame.tobytes() in the loop",
]
# Once the built-in rule exists, the user-written one keeps a per-frame row of its own.
USER_RULE_ROW = "streamframer per-frame [user-written rule]"
BUILTIN = {"prefixed64": "length_prefixed", "ieee1m": "ieee_block"}
QUADRATIC = {TWISTED, NAIVE}


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def tables(markdown: str) -> dict[str, list[list[str]]]:
    """Each ``## section``'s table, as rows of cells (header and rule lines dropped)."""
    found: dict[str, list[list[str]]] = {}
    section = ""
    for line in markdown.splitlines():
        if line.startswith("## "):
            section = line[3:]
            found[section] = []
        elif line.startswith("|") and not line.startswith("|---") and section:
            found[section].append([cell.strip() for cell in line.strip("|").split("|")])
    return {name: rows[1:] for name, rows in found.items()}  # rows[0] is the header


def section(all_tables: dict[str, list[list[str]]], prefix: str) -> list[list[str]]:
    (name,) = [name for name in all_tables if name.startswith(prefix)]
    return all_tables[name]


def base_name(name: str) -> str:
    """The row name without the built-in rule in brackets, which depends on the rules available
    (the user-written rule's rows keep their name)."""
    if name == USER_RULE_ROW or name.endswith("[user-written rule]"):
        return name
    return re.sub(r" \[(length_prefixed\(4\)|ieee_block\(\)|user-written rule)\]$", "", name)


@pytest.fixture(scope="module")
def smoke() -> tuple[subprocess.CompletedProcess[str], dict[str, list[list[str]]]]:
    done = subprocess.run(
        [sys.executable, "-W", "error", str(BENCHMARKS / "run.py"), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, tables(done.stdout)


def test_smoke_run_succeeds_without_wrong_rows(smoke):
    done, _ = smoke
    assert done.returncode == 0, done.stderr
    assert "WRONG" not in done.stdout
    assert "Traceback" not in done.stderr


def smoke_workload(key: str) -> w.Workload:
    return run.IN_MEMORY[key](run.MODES["smoke"])


@pytest.mark.parametrize("key", list(EXPECTED_ROWS))
def test_every_in_memory_row_appears_and_counts_agree(smoke, key):
    _, all_tables = smoke
    wl = smoke_workload(key)
    rows = [row for row in section(all_tables, "In memory") if row[0] == wl.title]
    names = [base_name(row[1]) for row in rows]
    expected = list(EXPECTED_ROWS[key])
    if key in BUILTIN and hasattr(streamframer, BUILTIN[key]):
        expected.append(USER_RULE_ROW)
    assert sorted(names) == sorted(expected)
    check_counts(rows, wl)


def check_counts(rows: list[list[str]], wl: w.Workload) -> None:
    for row in rows:
        name = base_name(row[1])
        frames, payload, rate = row[2], row[3], row[4]
        if wl.frames == 1 and name in QUADRATIC:
            assert rate.startswith("skipped: quadratic")
        elif name in (TWISTED, H11, "Twisted Int32StringReceiver") and not installed(
            "twisted" if "Twisted" in name else "h11"
        ):
            assert rate == "not installed"
        elif name == REFERENCE:  # frames nothing: allocates one block of the stream's size
            assert (frames, int(payload)) == ("—", wl.stream_bytes)
        else:
            # Every implementation found exactly the frames and payload bytes the workload holds.
            assert (int(frames), int(payload)) == (wl.frames, wl.payload_bytes), row
            assert rate[0].isdigit(), row


def test_large_frames_rows_appear_and_counts_agree(smoke):
    _, all_tables = smoke
    rows = section(all_tables, "One large frame")
    for frame_size in SMOKE.big_frames:
        wl = bigframes.workload(frame_size)
        mine = [row for row in rows if row[0] == wl.title]
        assert sorted(row[1] for row in mine) == sorted(BIG_ROWS)
        check_counts(mine, wl)


def test_loopback_rows_appear_and_counts_agree(smoke):
    _, all_tables = smoke
    rows = section(all_tables, "Loopback TCP")
    for title, frame_size, count in (
        ("64 B lines over loopback TCP", 64, SMOKE.tcp64),
        ("8 KiB lines over loopback TCP", 8192, SMOKE.tcp8k),
    ):
        mine = [row for row in rows if row[0] == title]
        assert [row[1] for row in mine] == TCP_ROWS
        for row in mine:
            if row[1].startswith("raw"):  # moves bytes without framing them
                assert (row[2], int(row[3])) == ("—", frame_size * count)
            else:
                assert (int(row[2]), int(row[3])) == (count, (frame_size - 1) * count)


def test_asyncio_server_rows_appear_and_every_run_counted_right(smoke):
    _, all_tables = smoke
    rows = section(all_tables, "asyncio server")
    assert [row[0] for row in rows] == [server.name for server in aioserver.SERVERS]
    for row in rows:
        # A CPU time per frame only when every run's frames and bytes were right.
        assert row[2].isdigit() or row[2] == "not installed", row


def test_query_loop_rows_appear(smoke):
    _, all_tables = smoke
    rows = section(all_tables, "Query loop")
    assert [row[0] for row in rows] == [name for name, _ in queries.LOOPS]
    for row in rows:
        assert row[1].endswith(" us"), row  # every reply was right: a wrong one has no time


def test_per_byte_memory_and_targets_tables(smoke):
    done, all_tables = smoke
    assert "MALLOC_MMAP_THRESHOLD_=131072" in done.stdout
    per_byte = section(all_tables, "Per-byte cost")
    assert [row[0] for row in per_byte] == [*SF_PATHS, ASYNCIO, READLINE, FLOOR, REFERENCE]
    memory_rows = section(all_tables, "Memory")
    assert memory_rows[0][0] == "streamframer per-frame: read_with_rule + consume"
    assert memory_rows[-1][0].startswith("idle BufferManager()")
    targets = section(all_tables, "Targets")
    assert [row[0] for row in targets] == TARGETS + INSTRUCTION_TARGETS
    for row in targets:
        peer = {"x Twisted": "twisted", "x h11": "h11"}.get(row[0].rsplit(": ", 1)[-1])
        if row[0] in INSTRUCTION_TARGETS or (peer is not None and not installed(peer)):
            assert (row[1], row[5]) == ("not measured", "-")
        else:
            assert row[5] in ("PASS", "FAIL"), row


def test_only_selects_workloads(capsys):
    assert run.main(["--smoke", "--only", "lines4k"]) == 0
    out = capsys.readouterr().out
    assert "4 KiB lines in 64 KiB reads" in out
    assert "64 B lines in 64 KiB reads" not in out
    assert "Loopback" not in out


# ------------------------------------------------------------------------------------------------
# A framer that gets it wrong is reported, never timed.


def _workload() -> w.Workload:
    return w.lines("probe", 300, 64, 1000)


def _expected(wl: w.Workload) -> timing.Expected:
    return timing.Expected(wl.frames, wl.payload_bytes, wl.stream_bytes, wl.digest)


def test_a_framer_that_loses_a_frame_is_reported():
    wl = _workload()

    def drops_last(measure):
        parts = b"".join(wl.chunks).split(b"\n")[:-2]
        return len(parts), sum(map(measure, parts))

    (result,) = timing.measure("t", "probe", [timing.Impl("drops", drops_last)], _expected(wl), 2)
    assert result.best is None
    assert result.error is not None
    assert "expected 300 frames" in result.error


def test_a_framer_with_right_counts_but_wrong_bytes_is_reported():
    wl = _workload()

    def shifted(measure):
        stream = b"".join(wl.chunks)
        # Same count and lengths, but each payload starts one byte late.
        parts = [stream[i * 64 + 1 : i * 64 + 64] for i in range(wl.frames)]
        return len(parts), sum(map(measure, parts))

    (result,) = timing.measure("t", "probe", [timing.Impl("shifted", shifted)], _expected(wl), 2)
    assert result.best is None
    assert "payloads differ" in (result.error or "")


def test_a_correct_framer_is_timed():
    wl = _workload()

    def split(measure):
        parts = b"".join(wl.chunks).split(b"\n")[:-1]
        return len(parts), sum(map(measure, parts))

    (result,) = timing.measure("t", "probe", [timing.Impl("split", split)], _expected(wl), 2)
    assert result.error is None
    assert result.best is not None
    assert (result.frames, result.payload_bytes) == (300, 300 * 63)


def test_a_ratio_is_the_median_of_per_round_ratios_beside_the_ratio_of_bests():
    mine = timing.Result("t", "probe", "mine", "streamframer", 100, times=[1.0, 3.0, 3.0])
    theirs = timing.Result("t", "probe", "theirs", "peer", 100, times=[3.0, 3.0, 9.0])
    # Per round 3x, 1x, 3x: the median is 3x, where the medians' ratio (3 s / 3 s) would say 1x.
    assert timing.ratio(mine, theirs) == timing.Ratio(median=3.0, best=3.0)
    theirs.error = "wrong"
    assert timing.ratio(mine, theirs) is None


def test_per_byte_spread_compares_the_median_cost_of_each_size():
    small = timing.Result("t", "small", "sf", "streamframer", 100, times=[1.0, 1.3, 1.0])
    large = timing.Result("t", "large", "sf", "streamframer", 400, times=[4.0, 4.0, 5.2])
    spread = bigframes.per_byte_spread([small, large])
    assert spread is not None
    # Medians 1.0 and 4.0 s: flat per byte. Round by round it would be 1.3x, 1.0x, 1.3x.
    assert spread.median == pytest.approx(1.0)
    assert spread.best == pytest.approx(1.0)


def test_run_exits_1_when_a_path_frames_wrongly(monkeypatch, capsys):
    def off_by_one(wl, rule, measure):
        frames, payload = sf_paths.sans_io(wl, rule, measure)
        return frames - 1, payload

    monkeypatch.setattr(sf_paths, "PATHS", [*sf_paths.PATHS, ("broken", off_by_one)])
    assert run.main(["--smoke", "--only", "lines64"]) == 1
    captured = capsys.readouterr()
    assert "| streamframer broken | 2047 | 129024 | **WRONG**" in captured.out
    assert "**WRONG**" in captured.out
    assert "FAILED: 1 implementation(s)" in captured.err


# ------------------------------------------------------------------------------------------------
# Memory, counted by tracemalloc.


def test_idle_manager_is_at_most_1_kib():
    per_manager = memory.idle_manager_bytes(200)
    assert 0 < per_manager <= 1024


def test_memory_peak_is_bounded_by_the_frame_not_the_stream():
    frame, read = 16 * 1024, 1024
    short, bound = memory.peaks(frame, 8 * (frame + 1), read)
    long, _ = memory.peaks(frame, 64 * (frame + 1), read)
    assert bound == frame + 1 + 2 * read
    for before, after in zip(short, long):
        assert before.error is None
        assert after.error is None
        if after.name.startswith("streamframer per-frame") or "iter_frames" in after.name:
            # Zero-copy paths: never a second copy of a frame, and nothing accumulates with
            # the stream's length (the benchmark reports the tighter target bound).
            assert after.peak < 2 * (frame + 1), after
            # The spare capacity kept for the next reads (up to an eighth of the buffer, plus a
            # read) varies with the history of reads, so peaks differ a little from run to run;
            # what must not happen is growth with the stream's length.
            assert after.peak <= before.peak + read + frame // 4, (before, after)
