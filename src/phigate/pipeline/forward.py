"""Stage: forward the request to the route's upstream and keep its response as the reply.

Only headers on an allowlist go upstream: the caller's credentials, cookies and
anything unknown stay at the gateway. The upstream learns the public scheme,
host and base path through ``X-Forwarded-*`` so it can build public URLs.
"""

from __future__ import annotations

from phigate.errors import PayloadTooLarge
from phigate.exchange import Exchange, Reply
from phigate.pipeline.parse import is_form_search
from phigate.proxy import UpstreamPool, UpstreamRequest

FORWARDED_REQUEST_HEADERS = frozenset(
    {
        "accept",
        "accept-language",
        "content-type",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-none-exist",
        "prefer",
    }
)


class Forward:
    def __init__(self, upstream: UpstreamPool, max_body_bytes: int) -> None:
        self.upstream = upstream
        self.max_body_bytes = max_body_bytes

    async def __call__(self, ex: Exchange) -> None:
        method, path = ex.method, ex.relative_path
        if is_form_search(ex):  # its form was folded into ex.query by the parse stage
            method, path = "GET", path.rstrip("/").removesuffix("/_search")
        body = await ex.request_body(self.max_body_bytes) if method in ("POST", "PUT", "PATCH") else None
        if body is not None and len(body) > self.max_body_bytes:
            raise PayloadTooLarge()
        headers = [(k, v) for k, v in ex.headers if k in FORWARDED_REQUEST_HEADERS]
        if body is None:
            headers = [(k, v) for k, v in headers if k != "content-type"]
        headers += [
            ("x-request-id", ex.request_id),
            ("x-forwarded-for", ex.client_ip),
            ("x-forwarded-proto", ex.scheme),
            ("x-forwarded-prefix", ex.route_base),
        ]
        host = ex.header("host")
        if host is not None:
            headers.append(("x-forwarded-host", host))
        request = UpstreamRequest(
            method=method,
            path=path,
            query=ex.query,
            headers=headers,
            body=body,
            request_id=ex.request_id,
        )
        response = await self.upstream.send(request)
        ex.upstream_target = response.target
        ex.reply = Reply(status=response.status, headers=list(response.headers), body=response)
