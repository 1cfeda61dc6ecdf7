"""RFC 9449 DPoP proofs: what a valid proof is, and each way one is refused."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from phigate.adapters.memory import MemoryReplayCache
from phigate.oauth.jose import generate_key, jwk_thumbprint, sign_jwt
from phigate.oauth.rfc9449 import (
    DpopNonceRequired,
    DpopProofError,
    access_token_hash,
    normalise_htu,
    verify_dpop_proof,
)

NOW = 1_900_000_000
URL = "https://gw.example.org/fhir/Observation"
TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJsYWIifQ.c2lnbmF0dXJl"
PRIVATE, PUBLIC = generate_key("ES256")
OTHER_PRIVATE, OTHER_PUBLIC = generate_key("ES256")


def _proof(
    private: dict[str, Any] = PRIVATE,
    public: dict[str, Any] = PUBLIC,
    typ: str = "dpop+jwt",
    header: dict[str, Any] | None = None,
    **changes: Any,
) -> str:
    claims = {"jti": "proof-1", "htm": "GET", "htu": URL, "iat": NOW, "ath": access_token_hash(TOKEN)}
    claims.update(changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    return sign_jwt(claims, private, typ=typ, extra_header={"jwk": public, **(header or {})})


class Replay:
    """The real in-process replay cache, recording what it was asked."""

    def __init__(self) -> None:
        self.cache = MemoryReplayCache(clock=lambda: NOW)
        self.calls: list[tuple[str, float]] = []

    async def __call__(self, key: str, expires_at: float) -> bool:
        self.calls.append((key, expires_at))
        return await self.cache.first_use(key, expires_at)


async def _verify(proof: str, replay: Replay | None = None, **kwargs: Any) -> str:
    options: dict[str, Any] = {"method": "GET", "url": URL, "access_token": TOKEN, "now": NOW, "max_age": 60}
    return await verify_dpop_proof(proof, replay=replay or Replay(), **(options | kwargs))


async def _reason(proof: str, replay: Replay | None = None, **kwargs: Any) -> str:
    with pytest.raises(DpopProofError) as caught:
        await _verify(proof, replay, **kwargs)
    return caught.value.reason


async def test_a_valid_proof_yields_the_thumbprint_of_its_key() -> None:
    replay = Replay()
    assert await _verify(_proof(), replay) == jwk_thumbprint(PUBLIC)
    assert replay.calls == [(f"dpop:{jwk_thumbprint(PUBLIC)}:proof-1", NOW + 60 + 5 + 1)]


async def test_a_replayed_proof_is_refused() -> None:
    replay = Replay()
    proof = _proof()
    await _verify(proof, replay)
    assert await _reason(proof, replay) == "dpop.replay"


async def test_an_invalid_proof_does_not_burn_its_jti() -> None:
    replay = Replay()
    assert await _reason(_proof(htm="POST"), replay) == "dpop.htm"
    assert replay.calls == []
    await _verify(_proof(), replay)


async def test_a_proof_by_another_key_yields_another_thumbprint() -> None:
    # The caller compares this with the token's cnf.jkt: a token bound to PUBLIC fails.
    jkt = await _verify(_proof(OTHER_PRIVATE, OTHER_PUBLIC))
    assert jkt == jwk_thumbprint(OTHER_PUBLIC) != jwk_thumbprint(PUBLIC)


async def test_a_proof_made_for_another_access_token_is_refused() -> None:
    assert await _reason(_proof(ath=access_token_hash(TOKEN + "x"))) == "dpop.ath"
    assert await _reason(_proof(ath=None)) == "dpop.ath"
    expected = base64.urlsafe_b64encode(hashlib.sha256(TOKEN.encode()).digest()).rstrip(b"=").decode()
    assert access_token_hash(TOKEN) == expected


async def test_at_the_token_endpoint_there_is_no_ath() -> None:
    await _verify(_proof(ath=None, htm="POST"), method="POST", access_token=None)
    assert await _reason(_proof(htm="POST"), method="POST", access_token=None) == "dpop.ath_unexpected"


async def test_a_proof_signed_by_another_key_than_its_jwk_is_refused() -> None:
    assert await _reason(_proof(OTHER_PRIVATE, PUBLIC)) == "dpop.jose.signature"


async def test_a_private_key_in_the_jwk_header_is_refused() -> None:
    assert await _reason(_proof(public=PRIVATE)) == "dpop.jose.jwk_private"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"htm": "POST"}, "dpop.htm"),
        ({"htm": "get"}, "dpop.htm"),
        ({"htu": "https://gw.example.org/fhir/Patient"}, "dpop.htu"),
        ({"htu": "https://evil.example/fhir/Observation"}, "dpop.htu"),
        ({"htu": "http://gw.example.org/fhir/Observation"}, "dpop.htu"),
        ({"htu": "/fhir/Observation"}, "dpop.htu"),
        ({"htu": 7}, "dpop.htu"),
        ({"iat": NOW - 60 - 5 - 1}, "dpop.iat_old"),
        ({"iat": NOW + 6}, "dpop.iat_future"),
        ({"iat": float(NOW)}, "dpop.iat"),
        ({"iat": None}, "dpop.iat"),
        ({"jti": None}, "dpop.jti"),
        ({"jti": ""}, "dpop.jti"),
        ({"jti": "j" * 257}, "dpop.jti"),
    ],
)
async def test_a_proof_for_another_request_or_time_is_refused(changes: dict[str, Any], reason: str) -> None:
    assert await _reason(_proof(**changes)) == reason


async def test_iat_is_accepted_within_the_window() -> None:
    await _verify(_proof(iat=NOW - 65, jti="old-but-fresh"))
    await _verify(_proof(iat=NOW + 5, jti="slightly-ahead"))


@pytest.mark.parametrize("typ", ["JWT", "at+jwt"])
async def test_the_proof_type_must_be_dpop_jwt(typ: str) -> None:
    assert await _reason(_proof(typ=typ)) == "dpop.jose.typ"


async def test_a_proof_without_jwk_or_with_key_references_is_refused() -> None:
    claims = {"jti": "p", "htm": "GET", "htu": URL, "iat": NOW, "ath": access_token_hash(TOKEN)}
    assert await _reason(sign_jwt(claims, PRIVATE, typ="dpop+jwt")) == "dpop.jose.jwk_missing"
    assert await _reason(_proof(header={"jku": "https://evil.example/jwks"})) == "dpop.jose.key_reference"
    assert await _reason(_proof(header={"x5c": ["AAAA"]})) == "dpop.jose.key_reference"


async def test_only_asymmetric_algorithms_sign_a_proof() -> None:
    _, payload, _ = _proof().split(".")
    none = base64.urlsafe_b64encode(b'{"alg":"none","typ":"dpop+jwt"}').rstrip(b"=").decode()
    assert await _reason(f"{none}.{payload}.") == "dpop.jose.signature_missing"
    assert await _reason(f"{none}.{payload}.AAAA") == "dpop.jose.alg"
    p384_private, p384_public = generate_key("ES384")
    assert await _reason(_proof(p384_private, p384_public), algorithms={"ES256"}) == "dpop.jose.alg"


async def test_a_required_nonce_is_asked_for_then_accepted() -> None:
    with pytest.raises(DpopNonceRequired) as caught:
        await _verify(_proof(), nonce="n-2")
    assert ("dpop-nonce", "n-2") in caught.value.headers
    assert caught.value.status == 401
    await _verify(_proof(nonce="n-2"), nonce="n-2")
    await _verify(_proof(nonce="n-1", jti="p2"), nonce="n-2", accepted_nonces=frozenset({"n-1"}))
    with pytest.raises(DpopNonceRequired):
        await _verify(_proof(nonce="n-0", jti="p3"), nonce="n-2", accepted_nonces=frozenset({"n-1"}))


def test_the_error_asks_for_a_dpop_proof() -> None:
    error = DpopProofError("dpop.replay")
    assert error.status == 401
    assert error.headers[0][0] == "www-authenticate" and 'error="invalid_dpop_proof"' in error.headers[0][1]


async def test_htu_is_compared_without_query_or_fragment() -> None:
    await _verify(_proof(htu=URL + "?code=7#x"), url=URL + "?patient=1")


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("https://GW.example.org:443/fhir/Observation", URL),
        ("HTTPS://gw.example.org/fhir/%7Eobs", "https://gw.example.org/fhir/~obs"),
        ("https://gw.example.org/fhir/a%2fb", "https://gw.example.org/fhir/a%2Fb"),
        ("https://gw.example.org/fhir/./x/../Observation", URL),
        ("https://gw.example.org", "https://gw.example.org/"),
        ("https://[::1]:8443/fhir", "https://[::1]:8443/fhir"),
    ],
)
def test_htu_normalisation(left: str, right: str) -> None:
    assert normalise_htu(left) == normalise_htu(right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("https://gw.example.org:8443/fhir", "https://gw.example.org/fhir"),
        ("https://gw.example.org/fhir/a%2Fb", "https://gw.example.org/fhir/a/b"),
        ("https://gw.example.org/FHIR", "https://gw.example.org/fhir"),
        ("https://gw.example.org/fhir/", "https://gw.example.org/fhir"),
    ],
)
def test_htu_normalisation_keeps_what_differs(left: str, right: str) -> None:
    assert normalise_htu(left) != normalise_htu(right)


@pytest.mark.parametrize(
    "url", ["/fhir", "ftp://gw.example.org/", "https://user@gw.example.org/", "https:///x"]
)
def test_htu_must_be_an_absolute_http_url(url: str) -> None:
    with pytest.raises(ValueError):
        normalise_htu(url)
