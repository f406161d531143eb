"""Scale: one loop framing hundreds of concurrent connections, memory per idle connection.

Runs ``benchmarks/aio_connections.py`` (2000 connections by default) with 200, to stay fast.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "aio_connections.py"


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("aio_connections", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_200_connections_sending_fragmented_lines_all_framed_in_bounded_memory() -> None:
    benchmark = load_benchmark()
    args = argparse.Namespace(connections=200, lines=5, fragment=7)
    result = asyncio.run(benchmark.serve(args, baseline=False))
    assert result["frames"] == 200 * 5
    assert result["bad frames"] == 0
    # An idle connection keeps its protocol, manager, reader and one waiting coroutine, and
    # gives its read buffer back: about 1 KiB (more on 3.9, whose coroutine frames are bigger).
    # A manager holding on to a single read reservation would cost 4 KiB or more.
    assert result["streamframer objects"] < 2048
