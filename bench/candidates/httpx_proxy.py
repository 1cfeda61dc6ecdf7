"""The same bare pure-ASGI reverse proxy as ``aiohttp_proxy`` with httpx as upstream client.

Only the client differs, so the two rows compare the clients. ``BENCH_UPSTREAM`` names the
upstream origin.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

UPSTREAM = os.environ["BENCH_UPSTREAM"].rstrip("/")

Scope = dict[str, Any]
Message = dict[str, Any]


class Proxy:
    def __init__(self) -> None:
        self.client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        assert self.client is not None
        body = await read_body(receive)
        url = UPSTREAM + scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode("latin-1")
        upstream = await self.client.request(scope["method"], url, content=body or None)
        headers = [
            (b"content-type", upstream.headers.get("content-type", "").encode("latin-1")),
            (b"content-length", str(len(upstream.content)).encode("ascii")),
        ]
        await send({"type": "http.response.start", "status": upstream.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": upstream.content})

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                limits = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=30)
                self.client = httpx.AsyncClient(limits=limits)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.aclose()
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
