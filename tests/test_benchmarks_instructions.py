"""The instruction-count harness (benchmarks/instructions.py) without callgrind: every counted
path frames its stream, the baseline has every path, and the check fails past 10% and only there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import instructions  # noqa: E402
from framebench import callgrind, counted  # noqa: E402


@pytest.mark.parametrize("name", list(counted.PATHS))
def test_each_counted_path_frames_every_read(name):
    # The worker checks the frame count of each of its three runs and exits 1 if one is off.
    done = subprocess.run(
        [sys.executable, "-m", "framebench.counted", name, "1", "2"],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_the_worker_refuses_a_wrong_count():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from framebench import counted; "
            "counted.PATHS['per_frame'] = (counted.lines, lambda wl: (1, 0), None, ''); "
            "sys.exit(counted.main(['per_frame', '1', '2']))",
        ],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "frames, expected" in done.stderr


def test_check_fails_past_the_tolerance_only():
    baseline = {"c/per_frame": 1000.0, "c/drain": 100.0, "peer/readline": 1000.0}
    counts = {"c/per_frame": 1099.0, "c/drain": 111.0, "peer/readline": 5000.0}
    failures = instructions.check(counts, baseline)
    assert len(failures) == 1  # peers are not checked, 9.9% passes
    assert failures[0].startswith("c/drain: 111 instructions per frame, baseline 100 (+11.0%")


def test_the_baseline_holds_every_path_for_311():
    baseline = json.loads(instructions.BASELINE.read_text())["3.11"]
    streamframer_paths = [n for n in counted.PATHS if n not in callgrind.PEERS]
    assert {f"c/{n}" for n in streamframer_paths} <= set(baseline)
    assert all(value > 0 for value in baseline.values())


def test_report_gives_the_ratios():
    counts = {
        "c/per_frame": 900.0,
        "c/seed_loop": 1500.0,
        "c/tobytes_loop": 1200.0,
        "peer/readline": 1000.0,
    }
    text = callgrind.report(counts)
    assert (
        "| c/per_frame | read_with_rule + len(frame) + consume() | 900 | readline | 0.90 | - |"
        in text
    )
    assert (
        "bytes(frame) in the loop costs 600 instructions, frame.tobytes() 300: ratio 2.00" in text
    )
