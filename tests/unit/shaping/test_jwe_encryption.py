"""JWE encryption (phigate.oauth.jwe), decrypted by jwcrypto: an implementation phigate does not use."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jwcrypto import jwe, jwk

from phigate.oauth.jwe import encrypt_compact, import_encryption_key

RSA = jwk.JWK.generate(kty="RSA", size=2048, kid="r1")
EC = jwk.JWK.generate(kty="EC", crv="P-384", kid="e1")


def public(key: jwk.JWK, **extra: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(key.export_public())
    return {**document, **extra}


@pytest.mark.parametrize(("key", "alg"), [(RSA, "RSA-OAEP-256"), (EC, "ECDH-ES+A256KW")])
def test_round_trip_through_an_independent_implementation(key: jwk.JWK, alg: str) -> None:
    imported = import_encryption_key(public(key, use="enc"))
    assert imported.alg == alg and imported.kid == key.get("kid")
    token = encrypt_compact(b'{"resourceType":"Patient"}', imported, content_type="application/fhir+json")
    assert encrypt_compact(b"x", imported) != encrypt_compact(b"x", imported)  # fresh key and IV each time
    opened = jwe.JWE()
    opened.deserialize(token.decode(), key=key)
    assert opened.payload == b'{"resourceType":"Patient"}'
    assert opened.jose_header["enc"] == "A256GCM" and opened.jose_header["cty"] == "application/fhir+json"


@pytest.mark.parametrize(
    ("jwk_document", "reason"),
    [
        (json.loads(RSA.export_private()), "private key material"),
        (public(RSA, use="sig"), "not an encryption key"),
        (public(RSA, alg="RSA1_5"), "uses RSA-OAEP-256"),
        (public(EC, alg="ECDH-ES"), "uses ECDH-ES+A256KW"),
        (public(jwk.JWK.generate(kty="RSA", size=1024)), "at least 2048 bits"),
        ({"kty": "OKP", "crv": "X25519", "x": "c2VjcmV0"}, "RSA or EC"),
        ({"kty": "EC", "crv": "secp256k1", "x": "a", "y": "b"}, "RSA or EC"),
        ({"kty": "RSA", "n": "not base64!", "e": "AQAB"}, "at least 2048 bits|not a valid public key"),
        ({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}, "not a valid public key"),
        ("a string", "JSON object"),
    ],
)
def test_unusable_keys_are_refused_with_a_safe_reason(jwk_document: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("+", r"\+")):
        import_encryption_key(jwk_document)
