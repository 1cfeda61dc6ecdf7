"""Stage 1, accept: request id, client IP (trusted-proxy aware), size limits.

The TLS part of acceptance happens in the listener (``phigate.tls``); this
stage sees a request that already arrived over an accepted connection. It also
refuses malformed paths and smuggling-shaped headers before any other stage
reads them (``phigate.guard.paths``).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable, Sequence

from phigate.errors import HeadersTooLarge, PayloadTooLarge, RequestError, UriTooLong
from phigate.exchange import Exchange
from phigate.guard.issues import InputRefused, blocking
from phigate.guard.paths import check_headers, check_raw_path
from phigate.settings import RequestLimits
from phigate.types import RequestId

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def new_request_id(offered: str | None) -> RequestId:
    """Keep a caller's well-formed X-Request-ID (for tracing across systems), else make one."""
    if offered is not None and _REQUEST_ID.fullmatch(offered):
        return RequestId(offered)
    return RequestId(uuid.uuid4().hex)


def client_ip(peer: str, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The first address, from the right, that is not one of our trusted proxies.

    X-Forwarded-For is believed only as far as it was appended by proxies we
    trust; anything a client wrote there itself stands left of them.
    """
    if not trusted or not _is_trusted(peer, trusted) or not forwarded_for:
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop if _is_ip(hop) else peer
    return hops[0] if hops and _is_ip(hops[0]) else peer


def forwarded_for(forwarded: str | None) -> str | None:
    """The ``for=`` nodes of an RFC 7239 ``Forwarded`` header, as an X-Forwarded-For style list.

    ``for="[2001:db8::1]:4711"`` becomes ``2001:db8::1`` and ``for=192.0.2.1:80``
    ``192.0.2.1``; ``unknown`` and obfuscated identifiers stay as they are (not addresses).
    """
    if not forwarded:
        return None
    hops = []
    for element in forwarded.split(","):
        for pair in element.split(";"):
            name, _, value = pair.strip().partition("=")
            if name.strip().lower() == "for":
                hops.append(_node_address(value.strip().strip('"')))
    return ", ".join(hops) or None


def _node_address(node: str) -> str:
    if node.startswith("["):
        return node[1:].partition("]")[0]
    host, colon, port = node.rpartition(":")
    return host if colon and port.isdigit() and "." in host else node


def client_address(
    trusted_proxies: Sequence[str], header: str = "x-forwarded-for"
) -> Callable[[str, str | None], str]:
    """``(peer, header value) -> client address``; ``header`` is ``x-forwarded-for`` or ``forwarded``."""
    trusted = tuple(ipaddress.ip_network(p, strict=False) for p in trusted_proxies)
    if header == "forwarded":
        return lambda peer, value: client_ip(peer, forwarded_for(value), trusted)
    return lambda peer, value: client_ip(peer, value, trusted)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


class Accept:
    def __init__(
        self,
        limits: RequestLimits,
        trusted_proxies: Sequence[str],
        base: str = "/fhir",
        address_header: str = "x-forwarded-for",  # or "forwarded" (RFC 7239): what the trusted proxy writes
    ) -> None:
        self.limits = limits
        self.trusted = tuple(ipaddress.ip_network(p, strict=False) for p in trusted_proxies)
        self.base = base
        self.address_header = address_header
        self.client_address = client_address(trusted_proxies, address_header)

    async def __call__(self, ex: Exchange) -> None:
        ex.client_ip = self.client_address(ex.client_ip, ex.header(self.address_header))
        if len(ex.raw_path) + len(ex.query) > self.limits.max_url_bytes:
            raise UriTooLong()
        if len(ex.headers) > self.limits.max_header_count:
            raise HeadersTooLarge("The request has too many header fields.")
        if sum(len(k) + len(v) + 4 for k, v in ex.headers) > self.limits.max_header_bytes:
            raise HeadersTooLarge()
        length = ex.header("content-length")
        if length is not None:
            if not length.isdigit():
                raise RequestError("The Content-Length header is not a number.")
            if int(length) > self.limits.max_body_bytes:
                raise PayloadTooLarge()
        # Path and header hygiene before any other stage reads them: encoded slashes and dots, NUL,
        # CR/LF, overlong UTF-8, mixed-case types; duplicate Content-Length, TE with CL (smuggling).
        problems = blocking(check_raw_path(ex.raw_path, self.base) + check_headers(ex.headers))
        if problems:
            raise InputRefused(problems)
