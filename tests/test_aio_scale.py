"""Scale: one loop framing hundreds of concurrent connections, memory per idle connection.

Runs ``benchmarks/soak.py`` (10,000 connections by default) with 200, to stay fast: fragmented
lines, then a slowloris.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.usefixtures("event_loop_name")

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
BENCHMARK = BENCHMARKS / "soak.py"
sys.path.insert(0, str(BENCHMARKS))  # soak.py imports its clients from framebench


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soak", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("mode", "lines"), [("fragmented", 5), ("slowloris", 1)])
def test_200_connections_all_framed_in_bounded_memory(mode: str, lines: int) -> None:
    soak = load_benchmark()
    config = soak.Config(mode, connections=200, lines=lines, pause=0.001, timeout=120)
    report = asyncio.run(soak.soak(config))
    assert report.errors == []
    assert report.frames == 200 * lines
    # An idle connection keeps its protocol, manager, reader and one waiting coroutine, and
    # gives its read buffer back: about 1.6 KiB (more on 3.9, whose coroutine frames are
    # bigger). A manager holding on to a read reservation would cost 64 KiB or more.
    assert report.idle.by_category["streamframer objects"] < 4096


def test_a_wrong_or_misplaced_line_is_reported() -> None:
    soak = load_benchmark()

    async def check() -> list[str]:
        config = soak.Config("fragmented", connections=1, lines=3)
        report = soak.Report(config, expected=3)
        tally = soak.Tally(config, report)
        state = [-1, 0]
        tally.frame(soak.line(7, 0)[:-1], state)
        tally.frame(soak.line(7, 2)[:-1], state)  # line 1 skipped
        tally.frame(soak.line(7, 2)[:-1][:-1], state)  # a byte short
        assert report.frames == 3
        return report.errors

    errors = asyncio.run(check())
    assert [error.split(":")[0] for error in errors] == [
        "connection 7 line 1",
        "connection 7 line 2",
    ]
