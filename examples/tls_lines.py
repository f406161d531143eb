"""Frames over TLS: an asyncio TLS server, a blocking ``ssl.SSLSocket`` client and an asyncio
TLS client. Framing is the same on every transport; only the source changes.

A throwaway certificate authority comes from ``trustme`` (``pip install trustme``); in real use
load your own certificates into the ``ssl.SSLContext`` objects.

Run: ``python examples/tls_lines.py``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from streamframer import Framed, until_delim
from streamframer.aio import FramedReader, FramedWriter, open_framed_connection, start_framed_server

LINE = until_delim(b"\n")


async def greeter(reader: FramedReader, writer: FramedWriter) -> None:
    async for frame in reader:
        writer.send(b"hello, " + bytes(frame))
        await writer.drain()


def blocking_client(port: int, context: ssl.SSLContext) -> bytes:
    """The synchronous API on an ``ssl.SSLSocket``, with a socket timeout bounding each read."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    with Framed(context.wrap_socket(raw, server_hostname="localhost"), LINE) as tls:
        return tls.query(b"blocking client")


async def asyncio_client(port: int, context: ssl.SSLContext) -> bytes:
    _, writer = await open_framed_connection(
        "127.0.0.1", port, LINE, ssl=context, server_hostname="localhost"
    )
    reply = await writer.query(b"asyncio client", timeout=5)
    writer.close()
    await writer.wait_closed()
    return reply


async def main() -> list[bytes]:
    import trustme  # optional: pip install trustme

    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)

    server = await start_framed_server(greeter, "127.0.0.1", 0, LINE, ssl=server_context)
    async with server:
        port = server.sockets[0].getsockname()[1]
        # The blocking client runs in a worker thread so that the server's loop keeps going.
        replies = [
            await asyncio.get_running_loop().run_in_executor(
                None, blocking_client, port, client_context
            ),
            await asyncio_client(port, client_context),
        ]
    for reply in replies:
        print(reply.decode())
    return replies


if __name__ == "__main__":
    asyncio.run(main())
