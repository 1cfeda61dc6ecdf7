"""The guarded JWKS fetcher against a real TLS server on 127.0.0.1, and an external issuer end to end.

Every refusal is also checked on the server side: a refused destination must
see no request at all (the SSRF canary).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from phigate.adapters.pki import DevPki, ensure_dev_pki
from phigate.oauth.external import ExternalIssuer
from phigate.oauth.jose import UnknownKeyError, generate_key, load_private_key, sign_jwt
from phigate.proxy.fetch import FetchError, GuardedFetcher
from phigate.settings import ExternalIssuerSettings

PRIVATE, PUBLIC = generate_key("ES256")
KEY = load_private_key(PRIVATE)
NOW = 1_900_000_000


class IdentityProvider:
    """A provider's documents over TLS, plus the misbehaviours a fetcher must refuse."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.seen: list[str] = []
        self.delay = 0.0
        self._context = context
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._context)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request.path)
        routes = {
            "/.well-known/openid-configuration": lambda: _json(
                {"issuer": self.base, "jwks_uri": self.base + "/jwks"}
            ),
            "/jwks": lambda: _json({"keys": [PUBLIC]}),
            "/redirect": lambda: web.Response(status=302, headers={"Location": self.base + "/jwks"}),
            "/big": lambda: _json({"keys": [], "pad": "x" * 70_000}),
            "/html": lambda: web.Response(text="<html></html>", content_type="text/html"),
            "/list": lambda: _json([PUBLIC]),
            "/duplicate": lambda: web.Response(
                body=b'{"keys": [], "keys": [1]}', content_type="application/json"
            ),
            "/gzip": lambda: web.Response(
                body=gzip.compress(b'{"keys": []}'),
                headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            ),
            "/error": lambda: web.Response(status=500, text="{}", content_type="application/json"),
        }
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.path == "/big-chunked":
            return await self._chunked(request)
        handler = routes.get(request.path)
        return handler() if handler is not None else web.Response(status=404)

    async def _chunked(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/jwk-set+json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"keys": [], "pad": "')
        for _ in range(20):
            await response.write(b"x" * 8192)
        await response.write(b'"}')
        await response.write_eof()
        return response


def _json(value: Any) -> web.Response:
    return web.Response(body=json.dumps(value).encode(), content_type="application/json")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return ensure_dev_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def trust(pki: DevPki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.ca_cert))


@pytest.fixture
async def provider(pki: DevPki) -> AsyncIterator[IdentityProvider]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    server = IdentityProvider(context)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fetcher(trust: ssl.SSLContext) -> AsyncIterator[GuardedFetcher]:
    client = GuardedFetcher(allow_loopback=True, timeout=2.0, max_bytes=64 * 1024, ssl_context=trust)
    yield client
    await client.close()


async def _refused(fetcher: GuardedFetcher, url: str) -> str:
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch_json(url)
    assert caught.value.status == 502 and url not in str(caught.value)
    return caught.value.reason


async def test_a_jwks_is_fetched_over_verified_tls(
    provider: IdentityProvider, fetcher: GuardedFetcher
) -> None:
    document = await fetcher.fetch_json(provider.base + "/jwks")
    assert document == {"keys": [PUBLIC]}
    assert await fetcher.fetch_json(f"https://localhost:{provider.port}/jwks") == document


async def test_plain_http_is_refused_without_a_connection(
    provider: IdentityProvider, fetcher: GuardedFetcher
) -> None:
    assert await _refused(fetcher, f"http://127.0.0.1:{provider.port}/jwks") == "not_https"
    assert await _refused(fetcher, f"https://user:pw@127.0.0.1:{provider.port}/jwks") == "url"
    assert provider.seen == []


async def test_a_redirect_is_not_followed(provider: IdentityProvider, fetcher: GuardedFetcher) -> None:
    assert await _refused(fetcher, provider.base + "/redirect") == "redirect"
    assert provider.seen == ["/redirect"]


async def test_loopback_and_private_destinations_are_refused_outside_tests(
    provider: IdentityProvider, trust: ssl.SSLContext
) -> None:
    fetcher = GuardedFetcher(allow_loopback=False, timeout=2.0, ssl_context=trust)
    try:
        assert await _refused(fetcher, provider.base + "/jwks") == "destination"
        # A name resolving to loopback is refused by the resolver, before connecting.
        assert await _refused(fetcher, f"https://localhost:{provider.port}/jwks") == "destination"
        assert await _refused(fetcher, f"https://[::1]:{provider.port}/jwks") == "destination"
    finally:
        await fetcher.close()
    assert provider.seen == []


async def test_loopback_mode_still_refuses_other_private_addresses(fetcher: GuardedFetcher) -> None:
    for url in ("https://10.0.0.1/jwks", "https://169.254.169.254/latest/meta-data", "https://[fe80::1]/"):
        assert await _refused(fetcher, url) == "destination"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/big", "oversize"),
        ("/big-chunked", "oversize"),
        ("/html", "content_type"),
        ("/list", "json"),
        ("/duplicate", "json"),
        ("/gzip", "content_encoding"),
        ("/error", "status"),
        ("/missing", "status"),
    ],
)
async def test_bad_documents_are_refused(
    provider: IdentityProvider, fetcher: GuardedFetcher, path: str, reason: str
) -> None:
    assert await _refused(fetcher, provider.base + path) == reason


async def test_a_certificate_from_an_untrusted_ca_is_refused(provider: IdentityProvider) -> None:
    fetcher = GuardedFetcher(allow_loopback=True, timeout=2.0)  # the system trust store
    try:
        assert await _refused(fetcher, provider.base + "/jwks") == "tls"
    finally:
        await fetcher.close()


async def test_a_slow_server_times_out(provider: IdentityProvider, trust: ssl.SSLContext) -> None:
    provider.delay = 2.0
    fetcher = GuardedFetcher(allow_loopback=True, timeout=0.3, ssl_context=trust)
    try:
        assert await _refused(fetcher, provider.base + "/jwks") == "timeout"
    finally:
        await fetcher.close()


async def test_an_external_issuer_end_to_end(provider: IdentityProvider, fetcher: GuardedFetcher) -> None:
    settings = ExternalIssuerSettings(
        issuer=provider.base, audience="https://gw.example.org/fhir", algorithms=("ES256",)
    )
    issuer = ExternalIssuer(settings, fetcher, refresh_interval=30.0)
    claims = {"iss": provider.base, "aud": settings.audience, "sub": "svc", "exp": NOW + 300, "iat": NOW}
    assert (await issuer.verify(sign_jwt(claims, KEY, typ="at+jwt"), NOW))["sub"] == "svc"
    assert provider.seen == ["/.well-known/openid-configuration", "/jwks"]

    forged = [sign_jwt(claims, KEY, "at+jwt", {"kid": f"k{n}"}) for n in range(30)]
    results = await asyncio.gather(*(issuer.verify(token, NOW) for token in forged), return_exceptions=True)
    assert all(isinstance(result, UnknownKeyError) for result in results)
    assert provider.seen.count("/jwks") == 1  # a flood of unknown kids fetched nothing more
