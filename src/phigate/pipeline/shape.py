"""Stage: shape the reply's headers (hygiene). Runs for every reply, error or not.

Only upstream headers on an allowlist reach the caller (no ``Server``,
``X-Powered-By``, cookies or internal addresses); ``Location`` and
``Content-Location`` are rewritten from the upstream base to the public one;
security headers are set on every reply (patient data is never cached).
"""

from __future__ import annotations

from phigate.exchange import Exchange, Headers

PASSED_RESPONSE_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "etag",
        "last-modified",
        "location",
        "content-location",
        "retry-after",
        "vary",
    }
)
_REWRITTEN = frozenset({"location", "content-location"})


class ShapeHeaders:
    def __init__(self, hsts_max_age: int, upstream_bases: tuple[str, ...]) -> None:
        self.hsts = f"max-age={hsts_max_age}; includeSubDomains" if hsts_max_age else None
        self.upstream_bases = upstream_bases

    def __call__(self, ex: Exchange) -> None:
        if ex.reply is None:
            return
        # An error reply's headers are the gateway's own (WWW-Authenticate, ...); an upstream's are filtered.
        headers = ex.reply.headers if ex.error is not None else self._upstream_headers(ex, ex.reply.headers)
        ex.reply.headers = headers + self._security_headers(ex)

    def _upstream_headers(self, ex: Exchange, received: Headers) -> Headers:
        public_base = self._public_base(ex)
        headers: Headers = []
        for name, value in received:
            lname = name.lower()
            if lname not in PASSED_RESPONSE_HEADERS:
                continue
            if lname in _REWRITTEN:
                rewritten = self._rewrite(value, public_base)
                if rewritten is None:
                    continue
                value = rewritten
            headers.append((lname, value))
        return headers

    def _security_headers(self, ex: Exchange) -> Headers:
        headers: Headers = [
            ("cache-control", "no-store"),
            ("pragma", "no-cache"),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
            ("referrer-policy", "no-referrer"),
            ("x-request-id", ex.request_id),
        ]
        if self.hsts is not None and ex.scheme == "https":
            headers.append(("strict-transport-security", self.hsts))
        return headers

    def _public_base(self, ex: Exchange) -> str:
        host = ex.header("host") or "localhost"
        return f"{ex.scheme}://{host}{ex.route_base}"

    def _rewrite(self, value: str, public_base: str) -> str | None:
        """An upstream URL becomes the same URL at the gateway; a relative one stays; others are dropped."""
        for base in self.upstream_bases:
            if value == base or value.startswith(base + "/"):
                return public_base + value[len(base) :]
        if "://" not in value and not value.startswith("//"):
            return value
        return None
