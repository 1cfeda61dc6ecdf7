"""The public listener's ASGI application: pure ASGI on the hot path (no framework, no middleware).

``/healthz`` and ``/readyz`` answer directly; a path under a route's FHIR base
becomes an ``Exchange`` run through that route's pipeline; anything else is a
404 OperationOutcome. The reply body is streamed as the upstream sends it.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from phigate.errors import NotFound
from phigate.exchange import Exchange, Reply
from phigate.oauth.endpoints import SMART_DISCOVERY_SUFFIX
from phigate.oauth.rfc8705 import certificate_thumbprint
from phigate.pipeline import Pipeline, error_reply
from phigate.pipeline.accept import new_request_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Readiness = Callable[[], dict[str, Any]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class GatewayApp:
    def __init__(
        self,
        routes: dict[str, Pipeline],
        readiness: Readiness,
        lifespan: Callable[[str], Awaitable[None]] | None = None,
        oauth_app: ASGIApp | None = None,
        webhook_app: ASGIApp | None = None,  # vendors' signed incident reports (issue 9)
    ) -> None:
        # Longest base first, so /fhir/r4 wins over /fhir.
        self.routes = sorted(routes.items(), key=lambda item: -len(item[0]))
        self.readiness = readiness
        self.lifespan = lifespan
        self.oauth_app = oauth_app
        self.webhook_app = webhook_app
        self.oauth_paths = frozenset(base + SMART_DISCOVERY_SUFFIX for base in routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await run_lifespan(receive, send, self.lifespan)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == "/healthz":
            await send_json(send, 200, {"status": "ok"})
            return
        if path == "/readyz":
            report = self.readiness()
            await send_json(send, 200 if report["ready"] else 503, report)
            return
        if self.oauth_app is not None and (
            path.startswith(("/oauth2/", "/.well-known/")) or path in self.oauth_paths
        ):
            await self.oauth_app(scope, receive, send)
            return
        if self.webhook_app is not None and path.startswith("/vendor-webhooks/"):
            await self.webhook_app(scope, receive, send)
            return
        for base, pipeline in self.routes:
            if path == base or path.startswith(base + "/"):
                await self.exchange(scope, receive, send, base, pipeline)
                return
        await send_reply(send, error_reply(NotFound()), head=False)

    async def exchange(
        self, scope: Scope, receive: Receive, send: Send, base: str, pipeline: Pipeline
    ) -> None:
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        client = scope.get("client")
        ex = Exchange(
            request_id=new_request_id(_first(headers, "x-request-id")),
            method=scope["method"],
            path=scope["path"],
            raw_path=scope.get("raw_path") or scope["path"].encode(),
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            client_ip=client[0] if client else "",
            scheme=scope.get("scheme", "http"),
            started=time.monotonic(),
            read_body=_body_reader(receive),
            route_base=base,
            client_cert_thumbprint=_client_cert_thumbprint(scope),
        )
        try:
            reply = await pipeline.run(ex)
            ex.bytes_sent = await send_reply(send, reply, head=ex.method == "HEAD")
        finally:
            pipeline.record(ex)


def _client_cert_thumbprint(scope: Scope) -> str | None:
    """x5t#S256 of the TLS client certificate the listener saw (ASGI TLS extension), if any."""
    chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or []
    return certificate_thumbprint(ssl.PEM_cert_to_DER_cert(chain[0])) if chain else None


def _first(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k == name), None)


def _body_reader(receive: Receive) -> Callable[[int], Awaitable[bytes]]:
    async def read_body(limit: int) -> bytes:
        """Read the request body, stopping once it is past ``limit`` (the caller refuses it then)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > limit or not message.get("more_body", False):
                break
        return b"".join(chunks)

    return read_body


async def send_reply(send: Send, reply: Reply, head: bool) -> int:
    """Send status, headers and body; return the body bytes sent."""
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
    body = reply.body
    if isinstance(body, bytes):
        if not any(k == b"content-length" for k, _ in headers):
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else body})
        return 0 if head else len(body)
    sent = 0
    try:
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        if not head:
            async for chunk in body.iter_body():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += len(chunk)
        await send({"type": "http.response.body", "body": b""})
    finally:
        await body.close()
    return sent


async def send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = orjson.dumps(payload)
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    await send_reply(send, Reply(status, [(k.decode(), v.decode()) for k, v in headers], body), head=False)


async def run_lifespan(
    receive: Receive, send: Send, handler: Callable[[str], Awaitable[None]] | None
) -> None:
    """ASGI lifespan: run the handler for startup and shutdown; a failed start-up stops the server."""
    while True:
        message = await receive()
        phase = message["type"].removeprefix("lifespan.")
        try:
            if handler is not None and phase in ("startup", "shutdown"):
                await handler(phase)
        except Exception as exc:
            await send({"type": f"lifespan.{phase}.failed", "message": type(exc).__name__})
            if phase == "startup":
                return
        else:
            await send({"type": f"lifespan.{phase}.complete"})
        if phase == "shutdown":
            return
