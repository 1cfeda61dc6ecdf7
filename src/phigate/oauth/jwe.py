"""JWE *encryption* to a third party's own key (RFC 7516, compact serialisation). Never decryption.

The gateway encrypts whole responses to a client that registered an encryption
key; it holds no private half and has no reason to decrypt, so this module has
no decrypt function at all (and :mod:`phigate.oauth.jose` still refuses every
five-segment token). Like ``jose.py`` it is a crypto module: no other package
imports joserfc.

Exactly two key-management algorithms, each pinned to its key type, and one
content algorithm:

- RSA keys (>= 2048 bits): ``RSA-OAEP-256``;
- EC keys (P-256, P-384, P-521): ``ECDH-ES+A256KW``;
- content: ``A256GCM``.

Keys are imported once (at start-up) and refused with a safe ``ValueError``
when unusable: private members present, ``use`` other than ``enc``, an ``alg``
other than the one its type allows, a weak RSA modulus.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

CONTENT_ALGORITHM = "A256GCM"
MEDIA_TYPE = "application/jose"
RSA_ALGORITHM = "RSA-OAEP-256"
EC_ALGORITHM = "ECDH-ES+A256KW"
MIN_RSA_BITS = 2048
_CURVES = frozenset({"P-256", "P-384", "P-521"})
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_REGISTRY = jwe.JWERegistry(algorithms=[RSA_ALGORITHM, EC_ALGORITHM, CONTENT_ALGORITHM])


@dataclass(frozen=True, eq=False)
class EncryptionKey:
    """A client's public encryption key, pinned to its one algorithm; ``repr`` shows only kid and alg."""

    kid: str
    alg: str
    _key: RSAKey | ECKey = field(repr=False)


def import_encryption_key(jwk: object) -> EncryptionKey:
    if not isinstance(jwk, Mapping):
        raise ValueError("a JWK is a JSON object")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise ValueError("the JWK holds private key material; register the public key only")
    if jwk.get("use", "enc") != "enc":
        raise ValueError("the JWK is not an encryption key (use must be enc)")
    kty = jwk.get("kty")
    members: tuple[str, ...]
    if kty == "RSA":
        alg, members = RSA_ALGORITHM, ("kty", "n", "e")
    elif kty == "EC" and jwk.get("crv") in _CURVES:
        alg, members = EC_ALGORITHM, ("kty", "crv", "x", "y")
    else:
        raise ValueError("an encryption key is RSA or EC (P-256, P-384, P-521)")
    if jwk.get("alg", alg) != alg:
        raise ValueError(f"an {kty} encryption key uses {alg}")
    key = _load({name: jwk.get(name) for name in members})
    kid = jwk.get("kid") or key.thumbprint()
    if not isinstance(kid, str) or not 0 < len(kid) <= 256:
        raise ValueError("a kid is a string of 1 to 256 characters")
    return EncryptionKey(kid=kid, alg=alg, _key=key)


def encrypt_compact(payload: bytes, key: EncryptionKey, content_type: str | None = None) -> bytes:
    """``payload`` as a compact JWE to ``key`` (a fresh content key and IV each time)."""
    header: dict[str, Any] = {"alg": key.alg, "enc": CONTENT_ALGORITHM, "kid": key.kid}
    if content_type is not None:
        header["cty"] = content_type
    token = jwe.encrypt_compact(header, payload, key._key, registry=_REGISTRY)
    return token.encode("ascii")


def _load(public: dict[str, Any]) -> RSAKey | ECKey:
    if public["kty"] == "RSA" and _modulus_bits(public.get("n")) < MIN_RSA_BITS:
        raise ValueError(f"an RSA encryption key has at least {MIN_RSA_BITS} bits")
    try:
        key: RSAKey | ECKey = (
            RSAKey.import_key(public) if public["kty"] == "RSA" else ECKey.import_key(public)
        )
    except (JoseError, ValueError, TypeError, KeyError):
        raise ValueError("the JWK is not a valid public key") from None
    return key


def _modulus_bits(n: object) -> int:
    if not isinstance(n, str):
        return 0
    padded = n + "=" * (-len(n) % 4)
    try:
        return int.from_bytes(base64.urlsafe_b64decode(padded), "big").bit_length()
    except ValueError:
        return 0
