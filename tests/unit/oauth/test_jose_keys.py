"""Key generation, RFC 7638 thumbprints, loading and signing."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from phigate.oauth.jose import (
    KeySet,
    PrivateKey,
    generate_client_key,
    generate_key,
    import_public_key,
    jwk_thumbprint,
    load_private_key,
    parse_unverified,
    sign_jwt,
    verify_jwt,
)

# RFC 7638 section 3.1: the example key and its SHA-256 thumbprint.
RFC7638_KEY = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs"
        "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajr"
        "n1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def test_rfc7638_example_thumbprint() -> None:
    assert jwk_thumbprint(RFC7638_KEY) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_a_thumbprint_ignores_optional_and_private_members() -> None:
    private, public = generate_key("ES256")
    assert (
        jwk_thumbprint(private)
        == jwk_thumbprint(public)
        == jwk_thumbprint({**public, "kid": "x", "use": "enc"})
    )


@pytest.mark.parametrize("jwk", [{"kty": "oct", "k": "AA"}, {"kty": "EC", "crv": "P-256", "x": "AA"}, {}])
def test_a_thumbprint_needs_a_complete_rsa_or_ec_key(jwk: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        jwk_thumbprint(jwk)


@pytest.mark.parametrize(("alg", "size"), [("ES384", 384), ("RS384", 3072)])
def test_client_keys_for_smart_backend_services(alg: str, size: int) -> None:
    private, public = generate_client_key(alg)  # type: ignore[arg-type]
    assert public["kid"] == private["kid"] == jwk_thumbprint(public)
    assert public["alg"] == private["alg"] == alg and public["use"] == "sig"
    assert "d" in private and not {"d", "p", "q", "dp", "dq", "qi"} & public.keys()
    key = load_private_key(private)._key.private_key
    if alg == "ES384":
        assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size == size
    else:
        assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == size
    json.dumps(private)  # plain JSON, ready for a credentials file


def test_client_keys_are_only_the_smart_algorithms() -> None:
    for alg in ("ES256", "RS256", "HS256", "none"):
        with pytest.raises(ValueError):
            generate_client_key(alg)  # type: ignore[arg-type]


def test_each_generated_key_is_new() -> None:
    assert generate_key("ES256")[1]["kid"] != generate_key("ES256")[1]["kid"]


def test_a_signed_token_carries_the_keys_alg_kid_and_the_typ() -> None:
    private, public = generate_client_key("ES384")
    token = sign_jwt(
        {"iss": "lab", "exp": 2_000_000_000}, private, typ="JWT", extra_header={"jku": "https://x"}
    )
    header = parse_unverified(token, max_bytes=8192).header
    assert header == {"alg": "ES384", "kid": public["kid"], "typ": "JWT", "jku": "https://x"}
    keys = KeySet.from_jwks({"keys": [public]})
    assert verify_jwt(token, keys, algorithms={"ES384"}, typ="JWT", max_bytes=8192, allowed_jku="https://x")


def test_a_header_cannot_override_the_keys_algorithm() -> None:
    private, _ = generate_key("RS256")
    with pytest.raises(ValueError):
        sign_jwt({}, private, typ="JWT", extra_header={"alg": "HS256"})


def test_private_keys_are_loaded_once_and_hidden_in_repr() -> None:
    private, _ = generate_key("PS256")
    key = load_private_key(private)
    assert isinstance(key, PrivateKey) and key.alg == "PS256"
    assert private["d"] not in repr(key)
    assert "d" not in key.public_jwk


@pytest.mark.parametrize(
    "change",
    [{"alg": "HS256"}, {"alg": None}, {"kid": None}, {"alg": "ES384"}, {"d": None}, {"alg": "RS256"}],
    ids=["hmac", "no-alg", "no-kid", "wrong-curve", "public-only", "wrong-type"],
)
def test_an_unusable_private_key_is_refused(change: dict[str, object]) -> None:
    private, _ = generate_key("ES256")
    jwk = {name: value for name, value in {**private, **change}.items() if value is not None}
    with pytest.raises(ValueError):
        load_private_key(jwk)


def test_registering_a_public_key_refuses_private_material() -> None:
    private, public = generate_key("ES384")
    assert import_public_key(public).kid == public["kid"]
    with pytest.raises(ValueError, match="private"):
        import_public_key(private)


def test_a_public_key_without_kid_is_named_by_its_thumbprint() -> None:
    _, public = generate_key("ES256")
    bare = {name: value for name, value in public.items() if name != "kid"}
    assert import_public_key(bare).kid == jwk_thumbprint(public)


@pytest.mark.parametrize(
    "jwk",
    [
        "not a key",
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        {"kty": "RSA", "n": "A", "e": "AQAB"},
        {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(b"x" * 32).decode()},
    ],
)
def test_malformed_public_keys_are_refused(jwk: object) -> None:
    with pytest.raises(ValueError):
        import_public_key(jwk)
