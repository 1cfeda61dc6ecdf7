"""The JOSE attack table (security.md J1-J15) against verify_jwt and check_claims.

Each attack must raise TokenError, and for the reason that matters (a forged
token refused only by luck, say for its size, would hide a missing check).
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import hmac
import json
import os
import socket
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from joserfc import jwe
from joserfc.jwk import RSAKey

from phigate.oauth.jose import (
    KeySet,
    TokenError,
    UnknownKeyError,
    check_claims,
    generate_key,
    import_public_key,
    load_private_key,
    parse_unverified,
    sign_jwt,
    verify_jwt,
)

NOW = 1_900_000_000
ISSUER = "https://gw.example.org"
AUDIENCE = "https://gw.example.org/fhir"
MAX = 8192
ES_PRIVATE, ES_PUBLIC = generate_key("ES256")
ATTACKER_PRIVATE, ATTACKER_PUBLIC = generate_key("ES256")
RS_PRIVATE, RS_PUBLIC = generate_key("RS256")
P384_PRIVATE, P384_PUBLIC = generate_key("ES384")
KEYS = KeySet.from_jwks({"keys": [ES_PUBLIC, RS_PUBLIC, P384_PUBLIC]})


def _claims(**changes: Any) -> dict[str, Any]:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "lab", "exp": NOW + 300, "iat": NOW, "jti": "j1"}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _token(claims: dict[str, Any] | None = None, key: dict[str, Any] = ES_PRIVATE, **header: Any) -> str:
    return sign_jwt(claims or _claims(), key, typ=header.pop("typ", "at+jwt"), extra_header=header or None)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _segment(value: object) -> str:
    return _b64(json.dumps(value).encode())


def _verify(
    token: str, algorithms: frozenset[str] = frozenset({"ES256", "RS256", "ES384"}), **kwargs: Any
) -> Any:
    return verify_jwt(
        token, KEYS, algorithms=algorithms, typ=kwargs.pop("typ", "at+jwt"), max_bytes=MAX, **kwargs
    )


def _reason(token: str, **kwargs: Any) -> str:
    with pytest.raises(TokenError) as caught:
        _verify(token, **kwargs)
    assert str(caught.value) == TokenError("x").message  # one message, whatever the cause
    return caught.value.reason


def test_a_valid_token_verifies_and_its_claims_pass() -> None:
    claims = _verify(_token())
    check_claims(claims, issuer=ISSUER, audience=AUDIENCE, now=NOW, skew=30)
    assert claims["sub"] == "lab"


def test_the_error_is_a_uniform_401_without_the_reason() -> None:
    error = TokenError("jose.kid_unknown")
    assert error.status == 401
    assert "kid" not in error.message and "kid" not in str(error)


# J1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_j1_alg_none_is_refused_with_or_without_the_original_signature(alg: str) -> None:
    _, payload, signature = _token().split(".")
    forged_header = _segment({"alg": alg, "kid": ES_PUBLIC["kid"], "typ": "at+jwt"})
    assert _reason(f"{forged_header}.{payload}.") == "jose.signature_missing"
    assert _reason(f"{forged_header}.{payload}.{signature}") == "jose.alg"


# J2 -------------------------------------------------------------------------------------


def _rsa_public_forms() -> list[bytes]:
    key = RSAKey.import_key(RS_PUBLIC).public_key
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs1 = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    return [pem, der, pkcs1, json.dumps(RS_PUBLIC).encode(), RS_PUBLIC["n"].encode()]


@pytest.mark.parametrize("secret", _rsa_public_forms(), ids=["pem", "der", "pkcs1", "jwk", "n"])
def test_j2_hs256_signed_with_the_public_key_is_refused(secret: bytes) -> None:
    signing_input = (
        f"{_segment({'alg': 'HS256', 'kid': RS_PUBLIC['kid'], 'typ': 'at+jwt'})}.{_segment(_claims())}"
    )
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    assert _reason(f"{signing_input}.{_b64(mac)}") == "jose.alg"


def test_j2_an_hmac_algorithm_cannot_even_be_allowed() -> None:
    with pytest.raises(ValueError):
        _verify(_token(), algorithms=frozenset({"HS256"}))
    with pytest.raises(ValueError):
        _verify(_token(), algorithms=frozenset({"none"}))


def test_j2_a_symmetric_key_in_a_jwks_is_never_loaded() -> None:
    jwks = {"keys": [{"kty": "oct", "kid": "shared", "k": _b64(b"s" * 32), "alg": "HS256"}]}
    assert len(KeySet.from_jwks(jwks)) == 0


# J3 -------------------------------------------------------------------------------------

INJECTED_KIDS = [
    "../../../../dev/null",
    "' UNION SELECT 'k'--",
    "|id",
    "https://attacker.example/k.json",
    "kid\x00../../etc/passwd",
    "k" * 4000,  # long, yet under the size cap: reaches the lookup
    "",
]


@pytest.fixture
def no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    """A canary: any file open or socket connection during verification fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("verification touched the file system or the network")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(os, "open", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("kid", INJECTED_KIDS, ids=range(len(INJECTED_KIDS)))
@pytest.mark.usefixtures("no_io")
def test_j3_an_injected_kid_is_just_an_unknown_key(kid: str) -> None:
    with pytest.raises(UnknownKeyError):
        _verify(_token(kid=kid))


def test_j3_an_empty_hmac_key_for_a_dev_null_kid_is_refused() -> None:
    signing_input = (
        f"{_segment({'alg': 'HS256', 'kid': '../../../../dev/null', 'typ': 'at+jwt'})}.{_segment(_claims())}"
    )
    mac = hmac.new(b"", signing_input.encode(), hashlib.sha256).digest()
    assert _reason(f"{signing_input}.{_b64(mac)}") == "jose.alg"


def test_j3_a_megabyte_kid_is_refused_before_parsing() -> None:
    assert _reason(_token(kid="k" * 1_000_000)) == "jose.oversize"


def test_j3_a_missing_or_non_string_kid_is_refused() -> None:
    for kid in (None, 7, ["a"]):
        header = {"alg": "ES256", "typ": "at+jwt"} | ({} if kid is None else {"kid": kid})
        assert _reason(_es256(header, _claims())) == "jose.kid_missing"


# J4 -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_io")
def test_j4_an_embedded_attacker_jwk_is_never_used() -> None:
    # CVE-2018-0114: the attacker signs with their key and embeds it, reusing a trusted kid.
    forged = _token(key=ATTACKER_PRIVATE, kid=ES_PUBLIC["kid"], jwk=ATTACKER_PUBLIC)
    assert _reason(forged) == "jose.key_reference"
    assert _reason(_token(key=ATTACKER_PRIVATE, jwk=ATTACKER_PUBLIC)) == "jose.key_reference"


@pytest.mark.parametrize(
    "member",
    [
        {"jku": "https://127.0.0.1:9/jwks.json"},
        {"x5u": "https://127.0.0.1:9/cert.pem"},
        {"x5c": ["MIIBszCCAVmgAwIBAgIUQ"]},
    ],
    ids=["jku", "x5u", "x5c"],
)
@pytest.mark.usefixtures("no_io")
def test_j4_key_reference_headers_are_never_followed(member: dict[str, Any]) -> None:
    assert _reason(_token(key=ATTACKER_PRIVATE, **member)) == "jose.key_reference"
    # Even on a token signed by a trusted key: the header itself is refused.
    assert _reason(_token(**member)) == "jose.key_reference"


def test_j4_jku_is_tolerated_only_when_it_is_the_registered_jwks_url() -> None:
    registered = "https://lab.example/.well-known/jwks.json"
    token = _token(typ="JWT", jku=registered)
    assert _verify(token, typ="JWT", allowed_jku=registered)["sub"] == "lab"
    assert _reason(token, typ="JWT", allowed_jku=registered + "?x") == "jose.key_reference"
    assert _reason(token, typ="JWT") == "jose.key_reference"
    # The key still comes from the key set, never from the jku URL.
    assert isinstance(_reason(_token(key=ATTACKER_PRIVATE, typ="JWT", jku=registered), typ="JWT"), str)
    with pytest.raises(UnknownKeyError):
        _verify(_token(key=ATTACKER_PRIVATE, typ="JWT", jku=registered), typ="JWT", allowed_jku=registered)


# J6 -------------------------------------------------------------------------------------


def _claims_reason(claims: dict[str, Any], **kwargs: Any) -> str:
    options: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "now": NOW, "skew": 30} | kwargs
    with pytest.raises(TokenError) as caught:
        check_claims(claims, **options)
    return caught.value.reason


def test_j6_expired_tokens_are_refused_within_the_documented_leeway() -> None:
    claims = _claims(exp=NOW, iat=NOW - 300)
    check_claims(claims, issuer=ISSUER, audience=AUDIENCE, now=NOW + 29, skew=30)
    assert _claims_reason(claims, now=NOW + 30) == "claims.expired"
    assert _claims_reason(claims, now=NOW + 61) == "claims.expired"


def test_j6_not_yet_valid_tokens_are_refused() -> None:
    assert _claims_reason(_claims(nbf=NOW + 31)) == "claims.not_yet_valid"
    assert _claims_reason(_claims(iat=NOW + 31)) == "claims.iat_future"
    check_claims(_claims(nbf=NOW + 29, iat=NOW + 29), issuer=ISSUER, audience=AUDIENCE, now=NOW, skew=30)


@pytest.mark.parametrize("exp", ["1900000300", 1_900_000_300.5, 1e300, True, None, -1, 2**40])
def test_j6_exp_must_be_a_sane_integer_date(exp: object) -> None:
    claims = _claims()
    claims["exp"] = exp
    assert _claims_reason(claims).startswith("claims.exp")


def test_j6_a_missing_exp_is_refused() -> None:
    assert _claims_reason(_claims(exp=None)) == "claims.exp_missing"


def test_j6_exp_too_far_ahead_is_refused_for_assertions() -> None:
    assert _claims_reason(_claims(exp=NOW + 301 + 30), max_future_exp=300) == "claims.exp_too_far"
    check_claims(
        _claims(exp=NOW + 300), issuer=ISSUER, audience=AUDIENCE, now=NOW, skew=30, max_future_exp=300
    )


# J7 -------------------------------------------------------------------------------------


def test_j7_wrong_audience_or_issuer_is_refused() -> None:
    assert _claims_reason(_claims(aud="https://other.example/fhir")) == "claims.aud"
    assert _claims_reason(_claims(aud="https://gw.example.org/fhir/")) == "claims.aud"
    assert _claims_reason(_claims(aud=None)) == "claims.aud"
    assert _claims_reason(_claims(iss="https://evil.example")) == "claims.iss"
    assert _claims_reason(_claims(iss=ISSUER + "/")) == "claims.iss"


def test_j7_an_audience_array_with_other_servers_is_refused_unless_allowed() -> None:
    both = _claims(aud=[AUDIENCE, "https://other.example/fhir"])
    assert _claims_reason(both) == "claims.aud"
    check_claims(_claims(aud=[AUDIENCE]), issuer=ISSUER, audience=AUDIENCE, now=NOW, skew=30)
    check_claims(both, issuer=ISSUER, audience=AUDIENCE, now=NOW, skew=30, multiple_audiences=True)
    assert _claims_reason(_claims(aud=["a", 7]), multiple_audiences=True) == "claims.aud"


def test_j7_one_of_several_configured_fhir_bases_is_accepted() -> None:
    bases = frozenset({AUDIENCE, "https://gw.example.org/fhir2"})
    check_claims(_claims(aud="https://gw.example.org/fhir2"), issuer=ISSUER, audience=bases, now=NOW, skew=30)


@pytest.mark.parametrize("typ", ["JWT", "id_token+jwt", "logout+jwt", "dpop+jwt", None])
def test_j7_an_id_token_or_any_other_type_is_not_an_access_token(typ: str | None) -> None:
    # An ID token: signed by the same key, typ JWT (or none), aud = the client's id.
    id_token = _claims(aud="lab-client", nonce="n-1", azp="lab-client")
    header = {"alg": "ES256", "kid": ES_PUBLIC["kid"]} | ({} if typ is None else {"typ": typ})
    assert _reason(_es256(header, id_token)) == "jose.typ"


def _es256(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token with any header, signed by the trusted ES256 key (for headers sign_jwt will not make)."""
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    private = load_private_key(ES_PRIVATE)._key.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def test_j7_typ_is_compared_as_a_media_type() -> None:
    assert _verify(_token(typ="application/at+jwt"))["sub"] == "lab"
    assert _verify(_token(typ="AT+JWT"))["sub"] == "lab"
    assert _reason(_es256({"alg": "ES256", "kid": ES_PUBLIC["kid"], "typ": 7}, _claims())) == "jose.typ"


# J9 - J13: no JWE is ever an authenticated token ------------------------------------------


def _jwe(header: dict[str, Any]) -> str:
    return ".".join(
        [_segment(header), _b64(os.urandom(32)), _b64(os.urandom(12)), _b64(os.urandom(64)), _b64(b"t" * 16)]
    )


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "zip": "DEF"},
        {"alg": "PBES2-HS256+A128KW", "enc": "A128GCM", "p2s": "c2FsdA", "p2c": 10_000_000},
        {"alg": "RSA1_5", "enc": "A128CBC-HS256"},
        {
            "alg": "ECDH-ES+A256KW",
            "enc": "A256GCM",
            "epk": {"kty": "EC", "crv": "P-256", "x": "AQ", "y": "AQ"},
        },
        {"alg": "dir", "enc": "A256GCM", "cty": "JWT"},
    ],
    ids=["zip", "pbes2", "rsa1_5", "invalid-curve-epk", "nested"],
)
def test_j9_to_j13_a_jwe_is_refused_unread(header: dict[str, Any]) -> None:
    assert _reason(_jwe(header)) == "jose.jwe_refused"


def test_j9_a_real_compressed_jwe_to_the_gateway_key_is_refused() -> None:
    # J12 too: a forged claims set encrypted to a public key, with no inner signature.
    encryption_key = RSAKey.generate_key(2048)
    protected = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "zip": "DEF"}
    plaintext = json.dumps(_claims()).encode() + b" " * 4000
    token = jwe.encrypt_compact(
        protected, plaintext, encryption_key, algorithms=["RSA-OAEP-256", "A256GCM", "DEF"]
    )
    assert len(token) < MAX
    assert _reason(token) == "jose.jwe_refused"


@pytest.mark.parametrize("member", [{"enc": "A256GCM"}, {"zip": "DEF"}, {"b64": False}, {"p2c": 10_000_000}])
def test_jwe_or_encoding_members_in_a_jws_header_are_refused(member: dict[str, Any]) -> None:
    assert _reason(_token(**member)) in {"jose.jwe_refused", "jose.header_refused"}


# J14 ------------------------------------------------------------------------------------


def test_j14_malformed_ecdsa_signatures_are_refused() -> None:
    header, payload, signature = _token().split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    for forged in (
        b"\x00" * 64,  # psychic signature r = s = 0
        encode_dss_signature(r, s),  # DER instead of raw
        raw[:63],
        raw + b"\x00",
        (0).to_bytes(32, "big") + raw[32:],
    ):
        assert _reason(f"{header}.{payload}.{_b64(forged)}") == "jose.signature"


def test_a_tampered_payload_is_refused() -> None:
    header, _, signature = _token().split(".")
    assert _reason(f"{header}.{_segment(_claims(sub='admin'))}.{signature}") == "jose.signature"


def test_alg_must_match_the_key_it_names() -> None:
    # An ES384 key with an RS384 (or ES256) header: the algorithm is pinned to the key.
    _, payload, signature = _token(key=P384_PRIVATE).split(".")
    for alg in ("RS384", "ES256"):
        forged = _segment({"alg": alg, "kid": P384_PUBLIC["kid"], "typ": "at+jwt"})
        assert _reason(f"{forged}.{payload}.{signature}", algorithms=frozenset({alg, "ES384"})) == (
            "jose.alg_key_mismatch"
        )
    # RS256 header on the RSA key's kid, but a PS256-pinned allowlist only: refused before the key.
    assert _reason(_token(key=RS_PRIVATE), algorithms=frozenset({"PS256"})) == "jose.alg"


def test_an_rsa_key_without_alg_is_pinned_to_the_listed_rsa_algorithms() -> None:
    bare = {name: value for name, value in RS_PUBLIC.items() if name != "alg"}
    keys = KeySet.from_jwks({"keys": [bare]}, algorithms=["PS256"])
    key = keys.get(RS_PUBLIC["kid"])
    assert key is not None and key.algorithms == frozenset({"PS256"})


# J15 ------------------------------------------------------------------------------------


def test_j15_duplicate_members_are_refused_in_header_and_payload() -> None:
    header, payload, signature = _token().split(".")
    duplicate_alg = _b64(
        b'{"alg":"ES256","alg":"none","kid":"' + ES_PUBLIC["kid"].encode() + b'","typ":"at+jwt"}'
    )
    assert _reason(f"{duplicate_alg}.{payload}.{signature}") == "jose.header"
    claims = json.dumps(_claims())[:-1] + ', "sub": "admin"}'
    assert _reason(f"{header}.{_b64(claims.encode())}.{signature}") == "jose.payload"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_j15_non_json_constants_are_refused(constant: str) -> None:
    header, _, signature = _token().split(".")
    payload = _b64(('{"exp": ' + constant + "}").encode())
    assert _reason(f"{header}.{payload}.{signature}") == "jose.payload"


def test_j15_non_canonical_base64url_is_refused() -> None:
    header, payload, signature = _token().split(".")
    for forged in (
        f"{header}=.{payload}.{signature}",
        f"{header}.{payload}.{signature}==",
        f"{header}.{payload} .{signature}",
        f"{header}.{payload}.{signature[:-2]}+/",
        f"{header}.{payload}.{signature[:-1]}",  # a length no base64 has
    ):
        assert _reason(forged) == "jose.base64"
    # Stray trailing bits: the same signature bytes spelled with another last character.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = signature[:-1] + alphabet[alphabet.index(signature[-1]) + 1]
    assert base64.urlsafe_b64decode(respelled + "==") == base64.urlsafe_b64decode(signature + "==")
    assert _reason(f"{header}.{payload}.{respelled}") == "jose.base64"


def test_j15_unknown_crit_is_refused() -> None:
    assert (
        _reason(
            _es256(
                {
                    "alg": "ES256",
                    "kid": ES_PUBLIC["kid"],
                    "typ": "at+jwt",
                    "crit": ["x-unknown"],
                    "x-unknown": 1,
                },
                _claims(),
            )
        )
        == "jose.crit"
    )
    assert _reason(_token(crit=["exp"])) == "jose.crit"


def test_j15_oversized_tokens_and_headers_are_refused_before_parsing() -> None:
    assert _reason(_token(x_pad="p" * MAX)) == "jose.oversize"
    assert _reason("a" * (MAX + 1)) == "jose.oversize"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "a.b.c.d.e.f",
        "é.b.c",
        "..",
        "e30.e30.",
        "W10.e30.AA",
        "e30.W10.AA",
        b"e30.e30.AA",
    ],
)
def test_malformed_compact_tokens_are_refused(token: object) -> None:
    with pytest.raises(TokenError):
        parse_unverified(token, max_bytes=MAX)


# Key sets -------------------------------------------------------------------------------


def test_keys_sharing_a_kid_are_ambiguous_and_both_dropped() -> None:
    other = dict(ATTACKER_PUBLIC, kid=ES_PUBLIC["kid"])
    keys = KeySet.from_jwks({"keys": [ES_PUBLIC, other, RS_PUBLIC]})
    assert ES_PUBLIC["kid"] not in keys and RS_PUBLIC["kid"] in keys


def test_a_jwks_member_with_private_material_or_another_use_is_skipped() -> None:
    encryption = dict(ATTACKER_PUBLIC, use="enc")
    keys = KeySet.from_jwks({"keys": [ES_PRIVATE, encryption, {"kty": "OKP"}, "junk"]})
    assert len(keys) == 0
    assert len(KeySet.from_jwks({"keys": "nope"})) == 0
    assert len(KeySet.from_jwks({"keys": [ES_PUBLIC] * 101})) == 0


def test_an_invalid_curve_point_is_refused() -> None:
    off_curve = dict(ES_PUBLIC, x=_b64((1).to_bytes(32, "big")), y=_b64((1).to_bytes(32, "big")))
    with pytest.raises(ValueError):
        import_public_key(off_curve)
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    wrong_curve = dict(ES_PUBLIC, x=_b64(p384.x.to_bytes(48, "big")), y=_b64(p384.y.to_bytes(48, "big")))
    with pytest.raises(ValueError):
        import_public_key(wrong_curve)


def test_a_weak_rsa_key_is_refused() -> None:
    numbers = rsa.generate_private_key(65537, 1024).public_key().public_numbers()
    n, e = (_b64(value.to_bytes((value.bit_length() + 7) // 8, "big")) for value in (numbers.n, numbers.e))
    weak = {"kty": "RSA", "n": n, "e": e, "kid": "weak", "alg": "RS256"}
    with pytest.raises(ValueError):
        import_public_key(weak)


def test_the_published_jwks_holds_public_members_only() -> None:
    published = KeySet.from_jwks({"keys": [ES_PUBLIC, RS_PUBLIC]}).jwks()
    for key in published["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()
        assert key["use"] == "sig"
