"""A bare pure-ASGI reverse proxy with aiohttp as upstream client: a stack candidate, not the gateway.

It does only what every proxy must (forward method, path, query and body over a pooled
keep-alive client, relay status, content type and body) so its figure is the floor cost of
the ASGI server plus the client. ``BENCH_UPSTREAM`` names the upstream origin.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp

UPSTREAM = os.environ["BENCH_UPSTREAM"].rstrip("/")

Scope = dict[str, Any]
Message = dict[str, Any]


class Proxy:
    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        assert self.session is not None
        body = await read_body(receive)
        url = UPSTREAM + scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode("latin-1")
        async with self.session.request(scope["method"], url, data=body or None) as upstream:
            payload = await upstream.read()
            headers = [
                (b"content-type", upstream.headers.get("content-type", "").encode("latin-1")),
                (b"content-length", str(len(payload)).encode("ascii")),
            ]
            await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                connector = aiohttp.TCPConnector(limit=100, keepalive_timeout=30)
                self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message: Message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


app = Proxy()
