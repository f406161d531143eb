"""The simulated SCPI instrument as an asyncio server: the sans-IO core under an event loop.

The instrument's logic (``SimulatedScope``) and its rules (``program_header``, then
``ARGUMENT`` after a header that ends with a space) are those of ``scpi_instrument.py``; only
the I/O differs. The event loop calls ``data_received`` with whatever bytes arrived; the
protocol feeds them to its manager and takes every complete command out, switching rules as the
message goes. A command split across reads simply waits in the manager. No thread, no blocking
call, thousands of connections on one loop.

Run it: ``python examples/asyncio_server.py [PORT]`` (default 5025 on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Callable, cast

from scpi_instrument import ARGUMENT, SimulatedScope, program_header

from streamframer import BufferManager, StreamFramerError

__all__ = ["ScpiProtocol", "start_server"]


class ScpiProtocol(asyncio.Protocol):
    """One connection: bytes in through ``data_received``, responses out through the transport."""

    def __init__(self, scope: SimulatedScope) -> None:
        self.scope = scope
        self.mgr = BufferManager(max_size=1024 * 1024)
        self.header: bytes | None = None  # a header whose argument has not arrived yet
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not asyncio.Transport subclasses).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.mgr.feed(data)
        try:
            self._handle_commands()
        except StreamFramerError as error:  # a malformed block, an oversized message
            assert self.transport is not None
            self.transport.write(b'-100,"%s"\n' % str(error).encode("ascii", "replace")[:200])
            self.transport.close()

    def _handle_commands(self) -> None:
        assert self.transport is not None
        while True:
            if self.header is None:
                frame = self.mgr.next_frame(program_header)
                if frame is None:
                    return
                with frame:
                    header = frame.tobytes()
                if header.endswith(b" "):
                    self.header = header  # its argument comes next, framed by another rule
                    continue
                argument = None
            else:
                frame = self.mgr.next_frame(ARGUMENT)
                if frame is None:
                    return
                with frame:
                    argument = frame.tobytes()
                header, self.header = self.header, None
            if header.strip():
                response = self.scope.handle(header.strip(), argument)
                if response is not None:
                    self.transport.write(response)


async def start_server(
    host: str, port: int, instrument: Callable[[], SimulatedScope]
) -> asyncio.Server:
    """Listen on ``host:port``; each connection talks to ``instrument()`` (one shared
    instrument: ``lambda: scope``; one each: ``SimulatedScope``)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: ScpiProtocol(instrument()), host, port)


async def main(port: int = 5025) -> None:
    scope = SimulatedScope()
    server = await start_server("127.0.0.1", port, lambda: scope)
    print(f"simulated scope (asyncio) on 127.0.0.1:{port}; Ctrl-C stops it")
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5025))
