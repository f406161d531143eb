"""A query loop over loopback TCP: ``query()`` with ``encoder=`` against today's ``query()``.

The instrument (:mod:`framebench.responder`, another process) reads commands ended by CR and
answers lines ended by CR LF, like many instruments (pyvisa's ``write_termination`` and
``read_termination``). Each timed run makes ``count`` queries on one connection (opened before
the clock starts) and checks every reply:

* ``encoder=``: ``Framed(sock, until_delim(b"\\r\\n"), encoder=until_delim(b"\\r"))``, the way
  such an instrument is spoken to now;
* ``query()``: ``Framed(sock, until_delim(b"\\r\\n"))``, the rule encoding both ways (the command
  goes out with CR LF, which this instrument also takes): what ``query()`` cost before there was
  an encoder;
* ``write + read_frame``: the command and its CR written as they are, then the reply read and
  copied: the way around it without ``encoder=``.

Rounds are interleaved; the clock is wall time (each query waits for the other process).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from streamframer import Framed, until_delim

from .responder import REPLY
from .timing import Result, describe, gc_off

BENCHMARKS_DIR = Path(__file__).resolve().parent.parent
COMMAND = b"MEAS:VOLT?"
_LINE = until_delim(b"\r\n")
_CR = until_delim(b"\r")
_ANSWER = REPLY[:-2]


def with_encoder(sock: socket.socket, count: int) -> int:
    query = Framed(sock, _LINE, encoder=_CR).query
    return sum(query(COMMAND) == _ANSWER for _ in range(count))


def rule_encodes(sock: socket.socket, count: int) -> int:
    query = Framed(sock, _LINE).query
    return sum(query(COMMAND) == _ANSWER for _ in range(count))


def write_and_read(sock: socket.socket, count: int) -> int:
    framed = Framed(sock, _LINE)
    write, read_frame, wire = framed.write, framed.read_frame, COMMAND + b"\r"
    right = 0
    for _ in range(count):
        write(wire)
        with read_frame() as frame:
            right += frame.tobytes() == _ANSWER
    return right


ENCODER = "Framed.query, encoder=until_delim(b'\\r')"
TODAY = "Framed.query, the rule encodes (CR LF out)"
LOOPS: list[tuple[str, Callable[[socket.socket, int], int]]] = [
    (ENCODER, with_encoder),
    (TODAY, rule_encodes),
    ("Framed.write(command + CR) + read_frame", write_and_read),
]


def measure(count: int, rounds: int) -> tuple[str, list[Result]]:
    """Time each loop ``rounds`` times, interleaved; every reply is checked."""
    process = subprocess.Popen(
        [sys.executable, "-m", "framebench.responder"], cwd=BENCHMARKS_DIR, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    results = [Result("loopback", "query", name, "streamframer", count) for name, _ in LOOPS]
    try:
        for _ in range(rounds):
            for (name, loop), result in zip(LOOPS, results):
                if result.error is not None:
                    continue
                try:
                    with socket.create_connection(("127.0.0.1", port)) as sock, gc_off():
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        start = time.perf_counter()
                        right = loop(sock, count)
                        elapsed = time.perf_counter() - start
                    if right != count:
                        raise AssertionError(f"{name}: {right} of {count} replies right")
                    result.record((count, count * len(_ANSWER)))
                except Exception as exc:
                    result.error = describe(exc)
                    continue
                result.times.append(elapsed)
    finally:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"quit\r")
        process.wait(timeout=10)
        process.stdout.close()
    return f"{count} queries over loopback TCP, CR commands and CR LF replies", results


def table(results: list[Result]) -> str:
    """Per query: the median and best round, and each loop against today's ``query()``."""
    from .report import table as markdown
    from .timing import ratio

    today = next(r for r in results if r.impl == TODAY)
    rows = []
    for result in results:
        if result.error is not None:
            rows.append([result.impl, f"**WRONG**: {result.error}", "", ""])
            continue
        median, best = result.median, result.best
        assert median is not None
        assert best is not None
        count = result.frames or 1
        versus = ratio(result, today)
        rows.append(
            [
                result.impl,
                f"{median / count * 1e6:.1f} us",
                f"{best / count * 1e6:.1f} us",
                "-" if versus is None else f"{versus.median:.2f}x (best {versus.best:.2f}x)",
            ]
        )
    return markdown(["loop", "per query (median)", "best round", "x today's query()"], rows, 3)
