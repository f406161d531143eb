"""The seed README's minimal example, verbatim, run as a program against a real TCP peer.

The example is a contract (DESIGN.md): it must run unchanged. Only its address is replaced by
the test server's. The seed loop has no exit, so at the peer's close it ends with a StreamClosed
traceback (an EOFError): the test checks that it printed every message, in order, and that this
traceback is the one and only reason for its non-zero exit status.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.one_core

ROOT = Path(__file__).resolve().parents[1]
# The product description lives beside the repository (../shared/seed/README.md), when it is there.
SEED_README = ROOT.parent / "shared" / "seed" / "README.md"
ADDRESS = '("127.0.0.1", 1234)'

# Verbatim from the seed README's "Minimal Example" (checked against it below when present).
EXAMPLE = """\
from streamframer import BufferManager, until_delim, read_with_rule
import socket

sock = socket.create_connection(("127.0.0.1", 1234))
mgr = BufferManager()
rule = until_delim(b"\\n")

while True:
    frame = read_with_rule(sock, mgr, rule)
    if frame is None:
        continue

    data = bytes(frame)
    frame.consume()
    print(data)
"""

MESSAGES = [b"*IDN?", b"MEAS:VOLT? 1.25", b"", b"x" * 5000, b"last one"]


def minimal_example(readme: str) -> str:
    """The first python block after the "Minimal Example" heading."""
    match = re.search(r"## Minimal Example\s*```python\n(.*?)```", readme, re.S)
    assert match is not None, "no minimal example in the README"
    return match.group(1).strip() + "\n"


def test_embedded_example_is_the_seed_example() -> None:
    if SEED_README.exists():
        assert minimal_example(SEED_README.read_text(encoding="utf-8")) == EXAMPLE
    assert EXAMPLE.count(ADDRESS) == 1


def test_project_readme_shows_the_minimal_example() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = EXAMPLE.replace(ADDRESS, "ADDRESS").split("\n")
    # Any address may be shown; everything else must be the seed's code, line for line.
    pattern = r"\n".join(
        re.escape(line).replace("ADDRESS", r"\([^)]*\)") if line else "" for line in code
    )
    assert re.search(pattern, readme), "README.md does not show the seed's minimal example"


def serve_fragmented(listener: socket.socket, errors: list[BaseException]) -> None:
    """Accept one client; send MESSAGES cut mid-message, just before and just after the
    delimiter, several in one send; then close."""
    try:
        conn, _ = listener.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            stream = b"".join(message + b"\n" for message in MESSAGES)
            cuts = [3, 5, 6, 12, 20, 21, 22, 100, 2000, len(stream) - 1]
            bounds = [0, *cuts, len(stream)]
            for start, end in zip(bounds, bounds[1:]):
                conn.sendall(stream[start:end])
                time.sleep(0.002)  # gives the client a chance to read each piece on its own
    except BaseException as exc:
        errors.append(exc)
    finally:
        listener.close()


def test_minimal_example_prints_every_message_and_ends_at_eof() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    host, port = listener.getsockname()[:2]
    errors: list[BaseException] = []
    server = threading.Thread(target=serve_fragmented, args=(listener, errors), daemon=True)
    server.start()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("PYTHONWARNINGS", None)
    program = EXAMPLE.replace(ADDRESS, repr((host, port)))
    try:
        result = subprocess.run(
            [sys.executable, "-c", program],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=ROOT,
        )
    finally:
        server.join(10)
        listener.close()
    assert not errors, errors
    assert result.stdout.splitlines() == [repr(message) for message in MESSAGES]
    # It ends because the loop has no exit: StreamClosed at the clean close, nothing else.
    stderr = result.stderr.strip().splitlines()
    assert stderr[0] == "Traceback (most recent call last):"
    assert result.stderr.count("Traceback") == 1
    assert re.fullmatch(
        r"streamframer\.StreamClosed: stream closed cleanly, between frames",
        stderr[-1],
    ), stderr[-1]
    assert result.returncode == 1


def test_stream_closed_is_an_eof_error() -> None:
    from streamframer import StreamClosed

    assert issubclass(StreamClosed, EOFError)
    closed = StreamClosed(b"")
    assert isinstance(closed, EOFError)
    assert closed.partial == b""
