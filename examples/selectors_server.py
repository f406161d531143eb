"""A single-threaded server framing many connections with ``selectors``, one manager each.

Every connection is a non-blocking socket with its own ``BufferManager`` and output buffer.
When the selector reports a socket readable, ``read_with_rule`` reads once (a non-blocking
socket never waits: nothing to read gives ``None``) and every complete frame is answered;
partial lines simply wait in their manager for the next readiness. One rule object serves all
connections: rules keep no state.

Run: ``python examples/selectors_server.py [--port 5025]``; it prints ``listening on
HOST:PORT`` and answers each line ``L`` with ``OK <L in upper case>``. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import selectors
import socket

from streamframer import (
    BufferManager,
    Rule,
    StreamClosed,
    StreamFramerError,
    read_with_rule,
    until_delim,
)

LINE = until_delim(b"\n")
# Stop reading from a client whose replies pile up unsent (it does not read): backpressure.
MAX_PENDING_OUTPUT = 64 * 1024


class Connection:
    __slots__ = ("mgr", "output", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.mgr = BufferManager(max_size=4096)  # a line longer than this is an error
        self.output = bytearray()


class LineServer:
    def __init__(self, listener: socket.socket, rule: Rule = LINE) -> None:
        listener.setblocking(False)
        self.listener = listener
        self.rule = rule
        self.selector = selectors.DefaultSelector()
        self.selector.register(listener, selectors.EVENT_READ, None)

    def answer(self, payload: bytes) -> bytes:
        return b"OK " + payload.upper() + b"\n"

    def serve_forever(self) -> None:
        while True:
            self.step()

    def step(self, timeout: float | None = None) -> None:
        """Handle one round of readiness events."""
        for key, events in self.selector.select(timeout):
            if key.data is None:
                self._accept()
                continue
            connection: Connection = key.data
            if events & selectors.EVENT_READ:
                self._read(connection)
            elif events & selectors.EVENT_WRITE:
                self._flush(connection)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ, Connection(sock))

    def _read(self, connection: Connection) -> None:
        mgr = connection.mgr
        try:
            frame = read_with_rule(connection.sock, mgr, self.rule)  # one read at most
            while frame is not None:
                with frame:
                    connection.output += self.answer(bytes(frame))
                frame = mgr.next_frame(self.rule)  # the rest of what that read brought
        except StreamClosed:  # the client closed (a partial last line is dropped)
            self._close(connection)
            return
        except (StreamFramerError, OSError):  # an oversized line, a reset connection
            self._close(connection)
            return
        self._flush(connection)

    def _flush(self, connection: Connection) -> None:
        output = connection.output
        try:
            if output:
                del output[: connection.sock.send(output)]
        except BlockingIOError:
            pass
        except OSError:
            self._close(connection)
            return
        events = selectors.EVENT_READ if len(output) < MAX_PENDING_OUTPUT else 0
        if output:
            events |= selectors.EVENT_WRITE
        if self.selector.get_key(connection.sock).events != events:
            self.selector.modify(connection.sock, events, connection)

    def _close(self, connection: Connection) -> None:
        self.selector.unregister(connection.sock)
        connection.sock.close()

    def close(self) -> None:
        for key in list(self.selector.get_map().values()):
            if key.data is not None:
                self._close(key.data)
        self.selector.close()
        self.listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5025, help="0 picks a free port")
    args = parser.parse_args()
    listener = socket.create_server((args.host, args.port))
    server = LineServer(listener)
    host, port = listener.getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
