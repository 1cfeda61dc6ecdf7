"""Fetching identity documents (JWKS, OpenID discovery) without becoming an SSRF tool.

:class:`GuardedFetcher` implements :class:`phigate.ports.JwksFetcher`. The URL
comes from configuration or a client's registration, but a registration is
third-party input, so every fetch is treated as hostile: ``https`` only, no
user info, no redirect followed (a 3xx is an error), no compressed body, a
timeout, a size cap read incrementally, and a JSON object with no duplicate
member. The destination is checked on the address actually connected to:
aiohttp asks our resolver, which refuses any name that resolves to a private,
loopback, link-local, multicast, reserved or otherwise non-global address (so a
DNS name cannot be rebound between the check and the connection), and literal
IP hosts are checked before any connection. ``allow_loopback`` (tests and the
demo only) lets exactly 127.0.0.1 and ::1 through, nothing else.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import socket
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from phigate.errors import UpstreamError

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_LOOPBACK = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1"))
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_JSON_TYPE = re.compile(r"application/(?:[a-z0-9.-]+\+)?json")
_URL_MAX = 2048
_CHUNK = 16 * 1024
# identity only: a compressed body could inflate past the size cap before we count it.
_HEADERS = {"Accept": "application/json, application/jwk-set+json", "Accept-Encoding": "identity"}


class FetchError(UpstreamError):
    """A remote identity document could not be fetched; ``reason`` is for logs only."""

    message = "A remote key set or discovery document could not be fetched."

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class _RefusedDestination(OSError):
    """Raised inside the resolver; aiohttp wraps it, :meth:`GuardedFetcher.fetch_json` finds it."""


def destination_allowed(address: str, *, allow_loopback: bool = False) -> bool:
    """Whether a connection to ``address`` (an IP literal) may be made.

    Only globally routable unicast addresses pass. Addresses that embed an IPv4
    address (``::ffff:10.0.0.1``, NAT64, 6to4, Teredo) are judged by it too.
    """
    try:
        ip: _Address = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if allow_loopback and ip in _LOOPBACK:
        return True
    return all(_global_unicast(candidate) for candidate in (ip, *_embedded(ip)))


def _global_unicast(ip: _Address) -> bool:
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def _embedded(ip: _Address) -> list[_Address]:
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    embedded: list[_Address] = []
    if ip.ipv4_mapped is not None:
        embedded.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        embedded.append(ip.sixtofour)
    if ip.teredo is not None:
        embedded.extend(ip.teredo)
    if ip in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return embedded


class _GuardedResolver(AbstractResolver):
    def __init__(self, allow_loopback: bool) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allow_loopback = allow_loopback

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        # Refuse the name if any address is forbidden: a mixed answer is a rebinding attempt.
        if not results or not all(
            destination_allowed(result["host"], allow_loopback=self._allow_loopback) for result in results
        ):
            raise _RefusedDestination("destination refused")
        return results

    async def close(self) -> None:
        await self._inner.close()


class GuardedFetcher:
    """One pooled HTTP client for identity documents; :meth:`close` once at shutdown.

    ``ssl_context`` defaults to the system trust store with verification on; tests
    pass one trusting their own CA. There is no switch to turn verification off.
    """

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        timeout: float = 5.0,
        max_bytes: int = 256 * 1024,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_bytes = max_bytes
        self._ssl = ssl_context or ssl.create_default_context()
        self._session: aiohttp.ClientSession | None = None

    async def fetch_json(self, url: str) -> Mapping[str, Any]:
        self._check_url(url)
        try:
            async with self._client().get(
                url,
                allow_redirects=False,
                headers=_HEADERS,
                ssl=self._ssl,
            ) as response:
                body = await self._read(response)
        except FetchError:
            raise
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise FetchError(_connection_reason(exc)) from None
        return _json_object(body)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=_GuardedResolver(self._allow_loopback), use_dns_cache=False, limit=20
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=False, trust_env=False
            )
        return self._session

    def _check_url(self, url: str) -> None:
        if len(url) > _URL_MAX:
            raise FetchError("url")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise FetchError("url") from None
        if parts.scheme != "https":
            raise FetchError("not_https")
        if not parts.hostname or parts.username is not None or parts.password is not None:
            raise FetchError("url")
        host = parts.hostname
        if _is_ip_literal(host) and not destination_allowed(host, allow_loopback=self._allow_loopback):
            raise FetchError("destination")

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        if 300 <= response.status < 400:
            raise FetchError("redirect")
        if response.status != 200:
            raise FetchError("status")
        if not _JSON_TYPE.fullmatch(response.content_type):
            raise FetchError("content_type")
        if response.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise FetchError("content_encoding")
        if response.content_length is not None and response.content_length > self._max_bytes:
            raise FetchError("oversize")
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > self._max_bytes:
                raise FetchError("oversize")
        return bytes(body)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _connection_reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timeout"
    cause: BaseException | None = exc
    for _ in range(5):  # aiohttp wraps the resolver's error once or twice
        if cause is None:
            break
        if isinstance(cause, _RefusedDestination):
            return "destination"
        cause = getattr(cause, "os_error", None) or cause.__cause__
    if isinstance(exc, aiohttp.ClientSSLError):
        return "tls"
    return "connection"


def _json_object(body: bytes) -> Mapping[str, Any]:
    try:
        value = json.loads(body.decode("utf-8"), object_pairs_hook=_unique_members)
    except (ValueError, RecursionError):
        raise FetchError("json") from None
    if not isinstance(value, dict):
        raise FetchError("json")
    return value


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ValueError("duplicate member")
    return value
