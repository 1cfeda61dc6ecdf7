"""Header hygiene at the upstream hop (RFC 9110 §7.6.1).

Hop-by-hop headers describe one connection, not the message: they are dropped in
both directions, together with every header the ``Connection`` header names.
"""

from __future__ import annotations

from collections.abc import Iterable

Headers = list[tuple[str, str]]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

# Set by the gateway for its own connection: Host names the target, Expect would
# make aiohttp and the upstream negotiate 100-continue behind the caller's back, and
# the client library computes Content-Length itself for a bytes body.
_REPLACED_ON_REQUEST = frozenset({"host", "expect"})


def strip_hop_by_hop(headers: Iterable[tuple[str, str]]) -> Headers:
    """``headers`` without hop-by-hop ones; order and repeated names are kept."""
    pairs = list(headers)
    named = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
    }
    dropped = HOP_BY_HOP | named
    return [(name, value) for name, value in pairs if name.lower() not in dropped]


def upstream_request_headers(
    headers: Iterable[tuple[str, str]], host: str, keep_content_length: bool
) -> Headers:
    """The headers to send upstream: hop-by-hop removed, ``Host`` set to the target."""
    dropped = _REPLACED_ON_REQUEST if keep_content_length else _REPLACED_ON_REQUEST | {"content-length"}
    kept = [(n, v) for n, v in strip_hop_by_hop(headers) if n.lower() not in dropped]
    return [("Host", host), *kept]
