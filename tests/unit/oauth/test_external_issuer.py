"""Resource-server mode: an external provider's tokens, its discovery document and JWKS cache."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from phigate.errors import UpstreamError
from phigate.oauth.external import ExternalIssuer
from phigate.oauth.jose import (
    PrivateKey,
    TokenError,
    UnknownKeyError,
    generate_key,
    load_private_key,
    sign_jwt,
)
from phigate.proxy.fetch import FetchError
from phigate.settings import ExternalIssuerSettings

ISSUER = "https://idp.example.org/realms/health"
JWKS_URI = "https://idp.example.org/realms/health/protocol/openid-connect/certs"
DISCOVERY = ISSUER + "/.well-known/openid-configuration"
AUDIENCE = "https://gw.example.org/fhir"
NOW = 1_900_000_000
RS_PRIVATE, RS_PUBLIC = generate_key("RS256")
RS_KEY = load_private_key(RS_PRIVATE)  # an RSA import costs milliseconds: once per module
ROTATED_PRIVATE, ROTATED_PUBLIC = generate_key("RS256")
ROTATED_KEY = load_private_key(ROTATED_PRIVATE)
SETTINGS = ExternalIssuerSettings(
    issuer=ISSUER, audience=AUDIENCE, algorithms=("RS256",), jwks_cache_seconds=300
)


class Provider:
    """The provider's documents as the fetcher port returns them; counts fetches, can fail."""

    def __init__(self, issuer: str = ISSUER) -> None:
        self.documents: dict[str, Mapping[str, Any]] = {
            DISCOVERY: {"issuer": issuer, "jwks_uri": JWKS_URI},
            JWKS_URI: {"keys": [RS_PUBLIC]},
        }
        self.fetches: list[str] = []
        self.down = False

    async def fetch_json(self, url: str) -> Mapping[str, Any]:
        self.fetches.append(url)
        await asyncio.sleep(0)
        if self.down or url not in self.documents:
            raise FetchError("connection")
        return self.documents[url]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _token(
    private: PrivateKey | dict[str, Any] = RS_KEY, typ: str = "at+jwt", kid: str | None = None, **changes: Any
) -> str:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "svc", "client_id": "lab", "exp": NOW + 300, "iat": NOW}
    claims.update(changes)
    header = {"kid": kid} if kid else None
    return sign_jwt(
        {name: value for name, value in claims.items() if value is not None}, private, typ, header
    )


def _issuer(provider: Provider, clock: Clock | None = None) -> ExternalIssuer:
    return ExternalIssuer(SETTINGS, provider, clock or Clock(), refresh_interval=30.0)


async def _reason(issuer: ExternalIssuer, token: str) -> str:
    with pytest.raises(TokenError) as caught:
        await issuer.verify(token, NOW)
    return caught.value.reason


async def test_a_provider_token_is_accepted_after_discovery() -> None:
    provider = Provider()
    claims = await _issuer(provider).verify(_token(), NOW)
    assert claims["client_id"] == "lab"
    assert provider.fetches == [DISCOVERY, JWKS_URI]


@pytest.mark.parametrize("typ", ["at+jwt", "JWT", "application/at+jwt"])
async def test_access_token_types_of_common_providers_are_accepted(typ: str) -> None:
    await _issuer(Provider()).verify(_token(typ=typ), NOW)


@pytest.mark.parametrize("typ", ["id_token+jwt", "logout+jwt", "dpop+jwt"])
async def test_other_token_types_are_refused(typ: str) -> None:
    assert await _reason(_issuer(Provider()), _token(typ=typ)) == "jose.typ"


async def test_an_id_token_of_the_provider_fails_the_audience_check() -> None:
    id_token = _token(typ="JWT", aud="lab-portal", nonce="n", azp="lab-portal")
    assert await _reason(_issuer(Provider()), id_token) == "claims.aud"


async def test_an_audience_list_must_contain_the_configured_audience() -> None:
    issuer = _issuer(Provider())
    await issuer.verify(_token(aud=["account", AUDIENCE]), NOW)
    assert await _reason(issuer, _token(aud=["account", "https://other.example/fhir"])) == "claims.aud"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "https://idp.example.org/realms/other"}, "claims.iss"),
        ({"exp": NOW - 31, "iat": NOW - 400}, "claims.expired"),
        ({"exp": None}, "claims.exp_missing"),
        ({"nbf": NOW + 31}, "claims.not_yet_valid"),
    ],
)
async def test_claims_are_checked(changes: dict[str, Any], reason: str) -> None:
    assert await _reason(_issuer(Provider()), _token(**changes)) == reason


async def test_an_algorithm_outside_the_allowlist_is_refused() -> None:
    es_private, es_public = generate_key("ES256")
    provider = Provider()
    provider.documents[JWKS_URI] = {"keys": [RS_PUBLIC, es_public]}
    assert await _reason(_issuer(provider), _token(es_private)) == "jose.alg"


async def test_a_discovery_document_naming_another_issuer_is_refused() -> None:
    provider = Provider(issuer="https://evil.example.org")
    issuer = _issuer(provider)
    with pytest.raises(UpstreamError):
        await issuer.refresh()
    assert await _reason(issuer, _token()) == "external.keys_unavailable"
    assert JWKS_URI not in provider.fetches


async def test_a_trailing_slash_in_the_providers_issuer_is_honoured() -> None:
    provider = Provider(issuer=ISSUER + "/")
    await _issuer(provider).verify(_token(iss=ISSUER + "/"), NOW)


async def test_an_unknown_kid_refreshes_once_then_is_rate_limited() -> None:
    provider, clock = Provider(), Clock()
    issuer = _issuer(provider, clock)
    await issuer.verify(_token(), NOW)
    forged = [_token(kid=f"random-{n}") for n in range(50)]
    results = await asyncio.gather(*(issuer.verify(token, NOW) for token in forged), return_exceptions=True)
    assert all(isinstance(result, UnknownKeyError) for result in results)
    assert provider.fetches.count(JWKS_URI) == 1  # none yet: the first fetch was under 30 s ago
    clock.now += 31
    results = await asyncio.gather(*(issuer.verify(token, NOW) for token in forged), return_exceptions=True)
    assert all(isinstance(result, UnknownKeyError) for result in results)
    assert provider.fetches.count(JWKS_URI) == 2  # fifty unknown kids, one fetch


async def test_a_key_rotated_in_at_the_provider_is_picked_up() -> None:
    provider, clock = Provider(), Clock()
    issuer = _issuer(provider, clock)
    await issuer.verify(_token(), NOW)
    provider.documents[JWKS_URI] = {"keys": [RS_PUBLIC, ROTATED_PUBLIC]}
    clock.now += 31
    await issuer.verify(_token(ROTATED_KEY), NOW)


async def test_stale_keys_outlive_a_provider_outage_for_one_period_only() -> None:
    provider, clock = Provider(), Clock()
    issuer = _issuer(provider, clock)
    await issuer.verify(_token(), NOW)
    provider.down = True
    clock.now += 301
    await issuer.verify(_token(), NOW)  # refresh failed; the keys held are still used
    fetches = len(provider.fetches)
    await issuer.verify(_token(), NOW)
    assert len(provider.fetches) == fetches  # no fetch per request while it is down
    clock.now += 300
    assert await _reason(issuer, _token()) == "external.keys_unavailable"
    provider.down = False
    clock.now += 31
    await issuer.verify(_token(), NOW)  # back: rediscovered and refreshed
    assert provider.fetches[-2:] == [DISCOVERY, JWKS_URI]


async def test_keys_are_refetched_after_the_cache_period() -> None:
    provider, clock = Provider(), Clock()
    issuer = _issuer(provider, clock)
    await issuer.verify(_token(), NOW)
    clock.now += 299
    await issuer.verify(_token(), NOW)
    assert provider.fetches.count(JWKS_URI) == 1
    clock.now += 2
    await issuer.verify(_token(), NOW)
    assert provider.fetches.count(JWKS_URI) == 2
