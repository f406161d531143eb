"""nmeasim sentences served by socat over TCP, and through serial ports (loop://, a pty)."""

from __future__ import annotations

import collections
import itertools
import os
import sys
import threading
from pathlib import Path
from subprocess import Popen

import pytest
import serial  # type: ignore[import-untyped]
from nmea_reader import (
    NMEA_LINE,
    ChecksumError,
    Sentence,
    parse_sentence,
    serial_sentences,
    tcp_sentences,
)
from nmea_source import sentences

from programs import server_program
from streamframer import BufferManager, iter_payloads

from .conftest import EXAMPLES
from .servers import LOOPBACK, connect, free_port, start, stop

SECONDS = 40  # simulated: 9 sentences each


def _checksum_ok(line: bytes) -> bool:
    """The test's own check, independent of the example's: XOR between '$' and '*'."""
    assert line[:1] == b"$", line
    assert line[-3:-2] == b"*", line
    xor = 0
    for byte in line[1:-3]:
        xor ^= byte
    return xor == int(line[-2:], 16)


def _serve_with_socat(tmp_path: Path, endings: str, seed: int) -> tuple[Popen[bytes], int, Path]:
    """socat listening on a free port, running nmea_source.py for the one client it accepts."""
    socat = server_program("socat")
    copy = tmp_path / "sent.txt"
    port = free_port()
    command = f"{sys.executable} {EXAMPLES / 'nmea_source.py'} --seconds {SECONDS}"
    command += f" --seed {seed} --endings {endings} --copy {copy}"
    if "," in command or "!!" in command:  # socat's own separators in EXEC's command line
        pytest.fail(f"cannot pass this path to socat's EXEC: {command!r}", pytrace=False)
    listen = f"TCP-LISTEN:{port},bind={LOOPBACK},reuseaddr"
    return start([socat, listen, f"EXEC:{command}"]), port, copy


@pytest.mark.servers("socat")
@pytest.mark.parametrize("endings", ["crlf", "lf", "mixed"])
def test_socat_served_sentences(
    tmp_path: Path, endings: str, frames_checked: collections.Counter[str]
) -> None:
    process, port, copy = _serve_with_socat(tmp_path, endings, seed=3)
    try:
        with connect(port, process=process) as sock:
            lines = list(iter_payloads(sock, BufferManager(max_size=1024), NMEA_LINE))
        assert process.wait(10) == 0
    finally:
        stop(process)

    sent = copy.read_bytes().splitlines()
    assert len(sent) == 9 * SECONDS
    assert lines == sent  # no line lost, split or glued, no CR left at an end
    assert all(_checksum_ok(line) for line in lines)
    parsed = [parse_sentence(line) for line in lines]
    assert collections.Counter(sentence.kind for sentence in parsed) == {
        "GGA": SECONDS,
        "GLL": SECONDS,
        "GSA": SECONDS,
        "GSV": 3 * SECONDS,
        "RMC": SECONDS,
        "VTG": SECONDS,
        "ZDA": SECONDS,
    }
    assert {sentence.talker for sentence in parsed} == {"GP"}
    frames_checked["nmea-socat"] += len(lines)


@pytest.mark.servers("socat")
def test_socat_tcp_sentences_recipe(
    tmp_path: Path, frames_checked: collections.Counter[str]
) -> None:
    """nmea_reader.tcp_sentences, the cookbook's TCP reader, on the same kind of stream."""
    process, port, copy = _serve_with_socat(tmp_path, "mixed", seed=8)
    try:
        with connect(port, process=process) as sock:
            received = list(tcp_sentences(sock))
        assert process.wait(10) == 0
    finally:
        stop(process)
    assert received == _expected(copy.read_text().splitlines())
    frames_checked["nmea-socat"] += len(received)


def _stream(endings: tuple[bytes, ...], seed: int) -> tuple[list[str], bytes]:
    lines = sentences(SECONDS, seed)
    data = b"".join(
        line.encode() + endings[number % len(endings)] for number, line in enumerate(lines)
    )
    return lines, data


def _expected(lines: list[str]) -> list[Sentence]:
    return [Sentence(line[1:3], line[3:6], line.split("*")[0].split(",")[1:]) for line in lines]


def test_serial_loop_url(frames_checked: collections.Counter[str]) -> None:
    """pyserial's loop:// port: what is written comes back on read."""
    lines, data = _stream((b"\r\n", b"\n"), seed=4)
    noise = b"\x00garbage without an end " * 100 + b"\n"  # longer than any sentence
    with serial.serial_for_url("loop://", timeout=2) as port:
        # loop:// holds 4 KiB: write from a thread while the reader drains it.
        writer = threading.Thread(target=port.write, args=(noise + data,), daemon=True)
        writer.start()
        # As many as were sent: the idle stop only ends a failing run.
        received = list(itertools.islice(serial_sentences(port, stop_when_idle=True), len(lines)))
        writer.join(10)
    assert received == _expected(lines)
    frames_checked["nmea-serial"] += len(received)


def test_serial_pty(frames_checked: collections.Counter[str]) -> None:
    """A real tty (a pty pair): the device writes on the master side, pyserial reads the other."""
    lines, data = _stream((b"\r\n",), seed=5)
    controller, device = os.openpty()
    try:
        with serial.Serial(os.ttyname(device), timeout=2) as port:  # raw mode, set by pyserial
            # The pty holds a few KiB: write from a thread while the reader drains it.
            writer = threading.Thread(target=_write_all, args=(controller, data), daemon=True)
            writer.start()
            received = list(
                itertools.islice(serial_sentences(port, stop_when_idle=True), len(lines))
            )
            writer.join(10)
    finally:
        os.close(controller)
        os.close(device)
    assert received == _expected(lines)
    frames_checked["nmea-serial"] += len(received)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[:512]) :]


def test_a_bad_checksum_is_reported() -> None:
    [line] = [line.encode() for line in sentences(1, 6)[:1]]
    with pytest.raises(ChecksumError):
        parse_sentence(line[:-1] + (b"0" if line[-1:] != b"0" else b"1"))
    assert not _checksum_ok(line.replace(b",", b";", 1))
