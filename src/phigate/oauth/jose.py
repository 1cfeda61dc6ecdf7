"""JOSE for phigate: the one module that makes keys, signs and verifies tokens (STYLE 11).

Everything here is deliberately narrow. Only compact JWS with an asymmetric
algorithm is ever accepted: no ``none``, no HMAC, and no JWE at all (a
five-segment token is refused before its header is read, so ``zip``, PBES2 and
RSA1_5 never reach a decoder). Parsing is strict and happens before any crypto:
a size cap first, then exactly three canonical base64url segments, then JSON
objects with no duplicate member and no ``NaN``. Keys come only from an
in-memory :class:`KeySet` the caller built from configuration or a registered
JWKS; ``jku``, ``x5u``, ``jwk`` and ``x5c`` headers are never followed. Each key
is pinned to the algorithms its own type allows (its ``alg`` when it has one),
so a header cannot pick HS256 over an RSA modulus or RS384 over an EC key.

Every failure raises :class:`TokenError`, one type with one generic message (a
caller learns nothing about *why*, so there is no oracle); its ``reason`` is a
short code for the audit log and metrics, never shown to the caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Literal

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from phigate.errors import AuthenticationRequired

Claims = dict[str, Any]
Jwk = dict[str, Any]

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
# The only algorithms any phigate token may use; every allowlist is a subset of it.
ASYMMETRIC_ALGORITHMS = RSA_ALGORITHMS | frozenset(EC_CURVES)
MIN_RSA_BITS = 2048
RSA_BITS = 3072  # keys phigate generates: NIST's size for use past 2030
KID_MAX_CHARS = 256
MAX_KEYS = 100  # a JWKS document larger than this is not a key set we trust

_RSA_PUBLIC = ("kty", "n", "e")
_EC_PUBLIC = ("kty", "crv", "x", "y")
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_KEY_REFERENCES = frozenset({"jku", "x5u", "jwk", "x5c"})
# Members that would change how the bytes are read (b64, zip) or that belong to a JWE.
_REFUSED_HEADERS = frozenset({"b64", "zip", "enc", "epk", "apu", "apv", "p2s", "p2c", "iv", "tag"})
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_NUMERIC_DATE_MAX = 2**33  # year 2242: anything later (1e300) is a forgery, not a date
_ALGORITHMS = JWSRegistry(algorithms=sorted(ASYMMETRIC_ALGORITHMS))


class TokenError(AuthenticationRequired):
    """A token, assertion or proof was refused. One message for every cause.

    ``reason`` (``jose.kid_unknown``, ``claims.expired``, ...) goes to the audit
    log; it is never rendered to the caller.
    """

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class UnknownKeyError(TokenError):
    """The token names a ``kid`` the key set does not hold (a caller may refresh a JWKS once)."""

    def __init__(self) -> None:
        super().__init__("jose.kid_unknown")


@dataclass(frozen=True, eq=False)
class PublicKey:
    """One verification key, pinned to ``algorithms`` (never more than its key type allows)."""

    kid: str
    algorithms: frozenset[str]
    jwk: Mapping[str, Any]  # public members, kid, alg, use: safe to publish
    _key: RSAKey | ECKey = field(repr=False)


@dataclass(frozen=True, eq=False)
class PrivateKey:
    """A signing key, parsed once (importing an RSA-3072 private JWK takes ~90 ms); repr hides it."""

    kid: str
    alg: str
    public_jwk: Mapping[str, Any]
    _key: RSAKey | ECKey = field(repr=False)


class KeySet:
    """Verification keys by ``kid``: the only place a token's key is looked up.

    A ``kid`` is a dictionary key and nothing more: no file, database or URL is
    touched, so a kid of ``../../dev/null``, SQL, NUL bytes or a megabyte is simply
    unknown. Two keys sharing a kid are ambiguous and both are dropped.
    """

    def __init__(self, keys: Iterable[PublicKey] = ()) -> None:
        by_kid: dict[str, PublicKey] = {}
        ambiguous: set[str] = set()
        for key in keys:
            if key.kid in by_kid:
                ambiguous.add(key.kid)
            by_kid[key.kid] = key
        self._keys = {kid: key for kid, key in by_kid.items() if kid not in ambiguous}

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any], *, algorithms: Collection[str] | None = None) -> KeySet:
        """Usable signature keys of a JWKS document; other keys (enc, oct, OKP, weak RSA) are skipped.

        ``algorithms`` pins keys that carry no ``alg`` to those of the list their
        type fits (an RSA key without ``alg`` may sign RS*/PS* only when listed).
        """
        members = jwks.get("keys")
        if not isinstance(members, list) or len(members) > MAX_KEYS:
            return cls()
        keys = []
        for member in members:
            try:
                keys.append(import_public_key(member, algorithms=algorithms))
            except ValueError:
                continue
        return cls(keys)

    def get(self, kid: str) -> PublicKey | None:
        return self._keys.get(kid)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[PublicKey]:
        return iter(self._keys.values())

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document of these keys."""
        return {"keys": [dict(key.jwk) for key in self._keys.values()]}


# -- keys ---------------------------------------------------------------------------------


def generate_key(alg: str) -> tuple[Jwk, Jwk]:
    """A new key pair for ``alg``: (private JWK, public JWK), kid = RFC 7638 thumbprint, use=sig."""
    key: RSAKey | ECKey
    if alg in EC_CURVES:
        key = ECKey.generate_key(EC_CURVES[alg], private=True)
    elif alg in RSA_ALGORITHMS:
        key = RSAKey.generate_key(RSA_BITS, private=True)
    else:
        raise ValueError(f"phigate makes keys for {', '.join(sorted(ASYMMETRIC_ALGORITHMS))} only")
    params = {"kid": key.thumbprint(), "alg": alg, "use": "sig"}
    return dict(key.as_dict(private=True, **params)), dict(key.as_dict(private=False, **params))


def generate_client_key(alg: Literal["RS384", "ES384"]) -> tuple[Jwk, Jwk]:
    """A SMART Backend Services client key pair (RS384 or ES384): (private JWK, public JWK)."""
    if alg not in ("RS384", "ES384"):
        raise ValueError("SMART Backend Services client keys are RS384 or ES384")
    return generate_key(alg)


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint (base64url) of an RSA or EC key, public or private."""
    kty = jwk.get("kty")
    names = _RSA_PUBLIC if kty == "RSA" else _EC_PUBLIC if kty == "EC" else None
    if names is None:
        raise ValueError("a thumbprint is taken of an RSA or EC key")
    members = {name: jwk.get(name) for name in names}
    if not all(isinstance(value, str) and value for value in members.values()):
        raise ValueError(f"a {kty} key needs {', '.join(names)}")
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return _b64encode(hashlib.sha256(canonical.encode("ascii")).digest())


def import_public_key(jwk: object, *, algorithms: Collection[str] | None = None) -> PublicKey:
    """Check and load one public signature key; ``ValueError`` (safe message) when unusable.

    Used for registered client keys as well as fetched JWKS members. A JWK with
    private members is refused rather than trimmed: it means a secret was leaked.
    """
    if not isinstance(jwk, Mapping):
        raise ValueError("a JWK is a JSON object")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise ValueError("the JWK holds private key material; register the public key only")
    if jwk.get("use", "sig") != "sig" or not _verifies(jwk.get("key_ops")):
        raise ValueError("the JWK is not a signature key")
    pinned = _pinned_algorithms(jwk, algorithms)
    public = {name: jwk.get(name) for name in (_RSA_PUBLIC if jwk["kty"] == "RSA" else _EC_PUBLIC)}
    key = _load(public)
    kid = jwk.get("kid", key.thumbprint())
    if not isinstance(kid, str) or not 0 < len(kid) <= KID_MAX_CHARS:
        raise ValueError(f"a kid is a string of 1 to {KID_MAX_CHARS} characters")
    published: Jwk = {**public, "kid": kid, "use": "sig"}
    if isinstance(jwk.get("alg"), str):
        published["alg"] = jwk["alg"]
    return PublicKey(kid=kid, algorithms=pinned, jwk=published, _key=key)


def load_private_key(jwk: Mapping[str, Any]) -> PrivateKey:
    """Load a private signing JWK (with ``kid`` and ``alg``); ``ValueError`` when unusable."""
    alg = jwk.get("alg")
    if alg not in ASYMMETRIC_ALGORITHMS:
        raise ValueError("a signing key names an asymmetric alg such as ES256 or RS384")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= KID_MAX_CHARS:
        raise ValueError("a signing key has a kid")
    key = _load(dict(jwk))
    if not key.is_private or alg not in _pinned_algorithms(jwk, None):
        raise ValueError(f"the key is not a private key for {alg}")
    public = {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    return PrivateKey(kid=kid, alg=str(alg), public_jwk=public, _key=key)


def _verifies(key_ops: object) -> bool:
    return key_ops is None or (isinstance(key_ops, list) and "verify" in key_ops)


def _pinned_algorithms(jwk: Mapping[str, Any], algorithms: Collection[str] | None) -> frozenset[str]:
    """What this key may verify: its own ``alg``, else what its type fits among ``algorithms``."""
    kty = jwk.get("kty")
    if kty == "RSA":
        fits = RSA_ALGORITHMS
    elif kty == "EC":
        fits = frozenset(alg for alg, crv in EC_CURVES.items() if crv == jwk.get("crv"))
    else:
        raise ValueError("only RSA and EC signature keys are accepted")
    alg = jwk.get("alg")
    if alg is not None:
        if alg not in fits:
            raise ValueError("the JWK's alg does not fit its key type")
        return frozenset({alg})
    pinned = fits & frozenset(algorithms if algorithms is not None else ASYMMETRIC_ALGORITHMS)
    if not pinned:
        raise ValueError("the JWK fits none of the allowed algorithms")
    return pinned


def _load(jwk: Mapping[str, Any]) -> RSAKey | ECKey:
    if jwk.get("kty") == "RSA" and _modulus_bits(jwk.get("n")) < MIN_RSA_BITS:
        # Checked before the import, which would only warn about a weak key.
        raise ValueError(f"an RSA key has at least {MIN_RSA_BITS} bits")
    try:
        # cryptography checks that an EC point is on its curve: invalid-curve keys fail here.
        kind = RSAKey if jwk.get("kty") == "RSA" else ECKey
        key: RSAKey | ECKey = kind.import_key(dict(jwk))
    except (JoseError, ValueError, TypeError, KeyError, binascii.Error):
        raise ValueError("the JWK is not a valid key") from None
    return key


def _modulus_bits(n: object) -> int:
    if not isinstance(n, str) or not _B64URL.fullmatch(n) or len(n) % 4 == 1:
        return 0
    return int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big").bit_length()


# -- signing ------------------------------------------------------------------------------


def sign_jwt(
    claims: Mapping[str, Any],
    private_jwk: Mapping[str, Any] | PrivateKey,
    typ: str,
    extra_header: Mapping[str, Any] | None = None,
) -> str:
    """A compact JWS of ``claims``, header ``{alg, kid, typ, **extra_header}``; alg is the key's own.

    Pass a :class:`PrivateKey` (from :func:`load_private_key`) when signing more
    than once: a JWK dict is parsed and checked on every call.
    """
    key = private_jwk if isinstance(private_jwk, PrivateKey) else load_private_key(private_jwk)
    header = {"alg": key.alg, "kid": key.kid, "typ": typ, **(extra_header or {})}
    if header["alg"] != key.alg:
        raise ValueError("a header cannot override the key's algorithm")
    signing_input = _segment(header) + "." + _segment(claims)
    signature = _ALGORITHMS.get_alg(key.alg).sign(signing_input.encode("ascii"), key._key)
    return signing_input + "." + _b64encode(signature)


def _segment(value: Mapping[str, Any]) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return _b64encode(text.encode("utf-8"))


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


# -- parsing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnverifiedJwt:
    """A strictly parsed but NOT verified JWT: for routing only (which client's keys to use)."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    signing_input: bytes = field(repr=False)
    signature: bytes = field(repr=False)


def parse_unverified(token: object, *, max_bytes: int) -> UnverifiedJwt:
    """Parse a compact JWS strictly without checking its signature.

    Size first, then three canonical base64url segments, then two JSON objects
    without duplicate members. A five-segment JWE is refused here, unread.
    Trust nothing in the result until :func:`verify_jwt` accepted the token.
    """
    if not isinstance(token, str) or not token.isascii():
        raise TokenError("jose.encoding")
    if len(token) > max_bytes:
        raise TokenError("jose.oversize")
    segments = token.split(".")
    if len(segments) == 5:
        raise TokenError("jose.jwe_refused")
    if len(segments) != 3:
        raise TokenError("jose.segments")
    header = _json_object(_b64decode(segments[0]), "jose.header")
    claims = _json_object(_b64decode(segments[1]), "jose.payload")
    signature = _b64decode(segments[2])
    if not signature:
        raise TokenError("jose.signature_missing")
    signing_input = f"{segments[0]}.{segments[1]}".encode("ascii")
    return UnverifiedJwt(header, claims, signing_input, signature)


def _b64decode(segment: str) -> bytes:
    # Canonical only: no padding, no '+/', no whitespace, no stray trailing bits.
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise TokenError("jose.base64")
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if _b64encode(raw) != segment:
        raise TokenError("jose.base64")
    return raw


def _json_object(raw: bytes, reason: str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_unique_members, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise TokenError(reason) from None
    if not isinstance(value, dict):
        raise TokenError(reason)
    return value


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ValueError("duplicate member")
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# -- verifying ----------------------------------------------------------------------------


def verify_jwt(
    token: object,
    keys: KeySet,
    *,
    algorithms: Collection[str],
    typ: str | AbstractSet[str | None],
    max_bytes: int,
    allowed_jku: str | None = None,
) -> Claims:
    """The claims of a JWS signed by a key of ``keys``; raises :class:`TokenError` otherwise.

    ``algorithms`` is the allowlist (a subset of :data:`ASYMMETRIC_ALGORITHMS`;
    anything else is a programming error). ``typ`` names the accepted ``typ``
    values, compared as media types (case-insensitive, ``application/`` optional);
    put ``None`` in the set to accept a header without ``typ``. ``allowed_jku`` is
    for SMART client assertions: a ``jku`` header equal to the client's registered
    JWKS URL is tolerated (the key still comes from ``keys``); any other is refused.
    Claims (iss, aud, exp...) are checked separately by :func:`check_claims`.
    """
    allowed = _allowlist(algorithms)
    jwt = parse_unverified(token, max_bytes=max_bytes)
    _check_header(jwt.header, typ=typ, allowed_jku=allowed_jku, embedded_jwk=False)
    alg = _header_alg(jwt.header, allowed)
    kid = jwt.header.get("kid")
    if not isinstance(kid, str):
        raise TokenError("jose.kid_missing")
    key = keys.get(kid)
    if key is None:
        raise UnknownKeyError()
    if alg not in key.algorithms:
        raise TokenError("jose.alg_key_mismatch")
    _check_signature(jwt, alg, key._key)
    return dict(jwt.claims)


def verify_self_signed_jwt(
    token: object, *, algorithms: Collection[str], typ: str, max_bytes: int
) -> tuple[Claims, str]:
    """Claims and key thumbprint of a JWS signed by the public key in its own ``jwk`` header.

    This proves possession of a key, not identity (RFC 9449 DPoP proofs): the
    caller binds the returned RFC 7638 thumbprint to something it trusts. A
    ``jwk`` holding private members is refused.
    """
    allowed = _allowlist(algorithms)
    jwt = parse_unverified(token, max_bytes=max_bytes)
    _check_header(jwt.header, typ=typ, allowed_jku=None, embedded_jwk=True)
    alg = _header_alg(jwt.header, allowed)
    jwk = jwt.header.get("jwk")
    if not isinstance(jwk, dict):
        raise TokenError("jose.jwk_missing")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise TokenError("jose.jwk_private")
    try:
        key = import_public_key(jwk, algorithms=allowed)
    except ValueError:
        raise TokenError("jose.jwk_invalid") from None
    if alg not in key.algorithms:
        raise TokenError("jose.alg_key_mismatch")
    _check_signature(jwt, alg, key._key)
    return dict(jwt.claims), jwk_thumbprint(jwk)


def _allowlist(algorithms: Collection[str]) -> frozenset[str]:
    allowed = frozenset(algorithms)
    if not allowed or not allowed <= ASYMMETRIC_ALGORITHMS:
        raise ValueError(f"token algorithms are a non-empty subset of {sorted(ASYMMETRIC_ALGORITHMS)}")
    return allowed


def _check_header(
    header: Mapping[str, Any],
    *,
    typ: str | AbstractSet[str | None],
    allowed_jku: str | None,
    embedded_jwk: bool,
) -> None:
    if "crit" in header:
        # phigate understands no JWS extension, so every critical one is unknown.
        raise TokenError("jose.crit")
    if _REFUSED_HEADERS & header.keys():
        raise TokenError("jose.jwe_refused" if "enc" in header else "jose.header_refused")
    references = _KEY_REFERENCES & header.keys()
    if embedded_jwk:
        references -= {"jwk"}
    jku_refused = "jku" in references and (allowed_jku is None or header["jku"] != allowed_jku)
    if references - {"jku"} or jku_refused:
        raise TokenError("jose.key_reference")
    value = header.get("typ")
    if "typ" in header and not isinstance(value, str):
        raise TokenError("jose.typ")
    accepted = {typ} if isinstance(typ, str) else typ
    if _media_type(value) not in {_media_type(name) for name in accepted}:
        raise TokenError("jose.typ")


def _media_type(value: str | None) -> str | None:
    """RFC 7515 4.1.9: compare case-insensitively, with or without ``application/``."""
    return None if value is None else value.lower().removeprefix("application/")


def _header_alg(header: Mapping[str, Any], allowed: frozenset[str]) -> str:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed:
        raise TokenError("jose.alg")
    return alg


def _check_signature(jwt: UnverifiedJwt, alg: str, key: RSAKey | ECKey) -> None:
    if len(jwt.signature) != _signature_length(key):
        raise TokenError("jose.signature")
    try:
        valid = _ALGORITHMS.get_alg(alg).verify(jwt.signing_input, jwt.signature, key)
    except (JoseError, ValueError, TypeError):
        valid = False
    if not valid:
        raise TokenError("jose.signature")


def _signature_length(key: RSAKey | ECKey) -> int:
    if isinstance(key, RSAKey):
        return (key.public_key.key_size + 7) // 8
    return 2 * ((key.curve_key_size + 7) // 8)


# -- claims -------------------------------------------------------------------------------


def check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audience: str | AbstractSet[str],
    now: float,
    skew: float,
    max_future_exp: float | None = None,
    multiple_audiences: bool = False,
    required: Collection[str] = ("exp",),
) -> None:
    """Check iss, aud, exp, nbf and iat of verified ``claims``; raises :class:`TokenError`.

    ``iss`` must equal ``issuer`` exactly. ``aud`` is compared by exact string
    (no prefix or URL normalisation) against ``audience`` (one value or a set of
    acceptable ones). By default the token must name exactly one audience (a
    string or a one-element array): a token addressed to several resource servers
    can be replayed by any of them, so phigate's own tokens never carry more.
    ``multiple_audiences=True`` accepts an array *containing* an accepted value
    (RFC 9068 4, for external providers that list several). Dates are integer
    NumericDates; a float, string, bool or absurd value (1e300) is refused.
    ``max_future_exp`` bounds how far ahead ``exp`` may be (5 minutes for SMART
    client assertions). ``skew`` is the tolerated clock difference in seconds.
    """
    for name in required:
        if name not in claims:
            raise TokenError(f"claims.{name}_missing")
    if claims.get("iss") != issuer:
        raise TokenError("claims.iss")
    _check_audience(claims.get("aud"), audience, multiple_audiences)
    exp = _numeric_date(claims, "exp")
    if exp is not None and now >= exp + skew:
        raise TokenError("claims.expired")
    if exp is not None and max_future_exp is not None and exp > now + max_future_exp + skew:
        raise TokenError("claims.exp_too_far")
    nbf = _numeric_date(claims, "nbf")
    if nbf is not None and nbf > now + skew:
        raise TokenError("claims.not_yet_valid")
    iat = _numeric_date(claims, "iat")
    if iat is not None and iat > now + skew:
        raise TokenError("claims.iat_future")


def _check_audience(aud: object, audience: str | AbstractSet[str], multiple: bool) -> None:
    accepted = {audience} if isinstance(audience, str) else audience
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not values or not all(isinstance(value, str) for value in values):
        raise TokenError("claims.aud")
    if len(values) > 1 and not multiple:
        raise TokenError("claims.aud")
    if not any(value in accepted for value in values):
        raise TokenError("claims.aud")


def _numeric_date(claims: Mapping[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is None and name not in claims:
        return None
    if type(value) is not int or not 0 <= value <= _NUMERIC_DATE_MAX:
        raise TokenError(f"claims.{name}_type")
    return value
