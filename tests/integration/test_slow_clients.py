"""Slow clients (slowloris) are cut off: a request's headers must arrive within the listener's deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import MutableMapping
from typing import Any

from fixtures.gateway_stack import free_port
from phigate.asgi.server import Listener, RunningServers
from phigate.settings import ListenerSettings


async def hello(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_a_client_dripping_headers_is_closed_at_the_deadline() -> None:
    port = free_port()
    settings = ListenerSettings(port=port, plain_http=True, header_timeout_seconds=0.5)
    async with RunningServers([Listener(hello, settings, "public")], drain_seconds=1):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
        await writer.drain()
        closed = await asyncio.wait_for(reader.read(), timeout=5)  # EOF once the server gives up
        elapsed = time.monotonic() - started
        writer.close()

        # A client that sends its headers in time is served, also for a second request on the connection.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(2):
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), timeout=5)
            assert status.startswith(b"HTTP/1.1 200")
            await asyncio.wait_for(reader.readuntil(b"ok"), timeout=5)
        writer.close()
    assert closed == b""
    assert 0.4 <= elapsed < 4.0
