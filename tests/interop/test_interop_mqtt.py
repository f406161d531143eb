"""A real MQTT broker (mosquitto) on loopback, its packets framed by ``varint_prefixed``.

MQTT 3.1.1: every control packet is one byte of type and flags, the remaining length as a varint
of 1 to 4 bytes, then that many bytes. The client here is nothing but the rule's encoder and
decoder: it connects, subscribes to its own topic, publishes messages whose remaining lengths
need 1, 2, 3 and 4 varint bytes, and reads everything the broker sends back.
"""

from __future__ import annotations

import collections
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from programs import server_program, starts
from streamframer import BufferManager, read_frame, varint_prefixed

from .servers import LOOPBACK, connect, free_port, start, stop

#: The whole packet, fixed header included: the packet type is in its first byte.
MQTT = varint_prefixed(offset=1, max_bytes=4, payload_offset=0)
#: The same framing, the payload after the remaining length: what encode() wraps.
MQTT_BODY = varint_prefixed(offset=1, max_bytes=4)
TOPIC = b"streamframer/test"
#: Message sizes whose PUBLISH needs a remaining length of 1, 2, 3 and 4 bytes.
SIZES = [0, 1, 100, 108, 109, 16_364, 16_365, 300_000, 2_097_132, 2_097_133]


@pytest.fixture(scope="module")
@starts("mosquitto")
def mosquitto_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A mosquitto of its own on 127.0.0.1: anonymous, nothing persisted."""
    program = server_program("mosquitto")
    port = free_port()
    config: Path = tmp_path_factory.mktemp("mosquitto") / "mosquitto.conf"
    config.write_text(
        f"listener {port} {LOOPBACK}\nallow_anonymous true\npersistence false\n"
        "log_dest stderr\nlog_type error\n"
    )
    process = start([program, "-c", str(config)])
    try:
        connect(port, process=process).close()
        yield port
    finally:
        stop(process)


def string(text: bytes) -> bytes:
    """An MQTT UTF-8 string: a 2-byte length, then the bytes."""
    return struct.pack("!H", len(text)) + text


def publish(payload: bytes) -> bytes:
    """A QoS 0 PUBLISH of ``payload`` to TOPIC."""
    return MQTT_BODY.encode(string(TOPIC) + payload, header=b"\x30")


def read_packet(sock: socket.socket, mgr: BufferManager) -> bytes:
    with read_frame(sock, mgr, MQTT, timeout=10) as frame:
        return frame.tobytes()


def test_publish_and_receive_through_mosquitto(
    mosquitto_port: int, frames_checked: collections.Counter[str]
) -> None:
    with connect(mosquitto_port) as sock:
        mgr = BufferManager()
        connect_packet = string(b"MQTT") + b"\x04\x02\x00\x3c" + string(b"streamframer-test")
        sock.sendall(MQTT_BODY.encode(connect_packet, header=b"\x10"))
        assert read_packet(sock, mgr) == b"\x20\x02\x00\x00"  # CONNACK, accepted

        subscribe = struct.pack("!H", 1) + string(TOPIC) + b"\x00"
        sock.sendall(MQTT_BODY.encode(subscribe, header=b"\x82"))
        assert read_packet(sock, mgr) == b"\x90\x03\x00\x01\x00"  # SUBACK, QoS 0 granted

        messages = [bytes((size + i) % 251 for i in range(size)) for size in SIZES]
        sock.sendall(b"".join(publish(message) for message in messages))
        received = [read_packet(sock, mgr) for _ in messages]
        assert [len(packet) for packet in received] == [len(publish(m)) for m in messages]
        assert received == [publish(message) for message in messages]
        # The remaining length took 1, 2, 3 and 4 bytes.
        assert {len(p) - len(m) - len(string(TOPIC)) - 1 for p, m in zip(received, messages)} == {
            1,
            2,
            3,
            4,
        }

        sock.sendall(MQTT_BODY.encode(b"", header=b"\xc0"))  # PINGREQ
        assert read_packet(sock, mgr) == b"\xd0\x00"  # PINGRESP
        sock.sendall(MQTT_BODY.encode(b"", header=b"\xe0"))  # DISCONNECT
        assert len(mgr) == 0
    frames_checked["mosquitto"] += len(messages) + 3
