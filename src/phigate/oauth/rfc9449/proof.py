"""Checking one DPoP proof (RFC 9449 4.3).

The order matters: everything that can be checked locally is checked first,
and the single-use ``jti`` is claimed last, so an invalid proof never burns a
``jti`` and the shared replay cache is asked only about proofs that are
otherwise valid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable, Collection, Mapping
from collections.abc import Set as AbstractSet
from typing import Any
from urllib.parse import urlsplit

from phigate.oauth.jose import TokenError, verify_self_signed_jwt

# Asymmetric only, as RFC 9449 requires; EC first: a P-256 proof is the cheapest to check.
DPOP_ALGORITHMS = frozenset({"ES256", "ES384", "PS256", "RS256"})
PROOF_TYPE = "dpop+jwt"
JTI_MAX_CHARS = 256
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_DEFAULT_PORTS = {"https": 443, "http": 80}

FirstUse = Callable[[str, float], Awaitable[bool]]
"""``first_use(key, expires_at)``: True exactly once per key (``phigate.ports.ReplayCache``)."""


class DpopProofError(TokenError):
    """The DPoP proof is missing, malformed, replayed or bound to something else (401).

    The token endpoint renders it as ``{"error": "invalid_dpop_proof"}`` (400).
    """

    oauth_error = "invalid_dpop_proof"
    headers = (
        ("www-authenticate", f'DPoP error="invalid_dpop_proof", algs="{" ".join(sorted(DPOP_ALGORITHMS))}"'),
    )


class DpopNonceRequired(DpopProofError):
    """The server requires a fresh nonce: the client retries with the ``DPoP-Nonce`` sent back."""

    oauth_error = "use_dpop_nonce"

    def __init__(self, nonce: str) -> None:
        super().__init__("dpop.nonce")
        self.nonce = nonce
        # errors.AuthenticationRequired types its headers as a 1-tuple; PhigateError allows any number.
        self.headers = (("www-authenticate", 'DPoP error="use_dpop_nonce"'), ("dpop-nonce", nonce))  # type: ignore[assignment]


async def verify_dpop_proof(
    proof: object,
    *,
    method: str,
    url: str,
    access_token: str | None,
    now: float,
    replay: FirstUse,
    max_age: float = 60.0,
    nonce: str | None = None,
    accepted_nonces: AbstractSet[str] = frozenset(),
    skew: float = 5.0,
    algorithms: Collection[str] = DPOP_ALGORITHMS,
    max_bytes: int = 8192,
) -> str:
    """The RFC 7638 thumbprint (``jkt``) of the key that signed a valid ``proof``.

    ``method`` and ``url`` are the request's, as the gateway received them (the
    public URL; query and fragment are ignored on both sides). ``access_token``
    is the token presented with the proof (its hash must be the proof's ``ath``),
    or ``None`` at the token endpoint (then ``ath`` must be absent). A proof is
    fresh when ``now - max_age - skew <= iat <= now + skew``. ``nonce`` is the
    server's current nonce when it requires one (``accepted_nonces`` may add the
    previous one during a rotation). ``replay`` is the shared replay cache's
    ``first_use``; its :class:`~phigate.errors.SharedStateUnavailable` propagates
    (the proof is then refused with a 503, never let through). The caller checks
    that the returned ``jkt`` equals the access token's ``cnf.jkt``.
    """
    try:
        claims, jkt = verify_self_signed_jwt(
            proof, algorithms=algorithms, typ=PROOF_TYPE, max_bytes=max_bytes
        )
    except TokenError as exc:
        raise DpopProofError(f"dpop.{exc.reason}") from None
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= JTI_MAX_CHARS:
        raise DpopProofError("dpop.jti")
    _check_request(claims, method, url)
    iat = _check_iat(claims, now, max_age, skew)
    _check_ath(claims, access_token)
    if nonce is not None and claims.get("nonce") not in {nonce, *accepted_nonces}:
        raise DpopNonceRequired(nonce)
    if not await replay(f"dpop:{jkt}:{jti}", iat + max_age + skew + 1):
        raise DpopProofError("dpop.replay")
    return jkt


def access_token_hash(access_token: str) -> str:
    """The ``ath`` of a token: base64url SHA-256 of its ASCII bytes."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def normalise_htu(url: str) -> str:
    """``url`` without query and fragment, normalised (RFC 3986 6.2.2 and 6.2.3) for comparison.

    Scheme and host are lower-cased, a default port is dropped, an empty path
    becomes ``/``, percent-encodings are upper-cased (unreserved ones decoded)
    and dot segments removed. ``ValueError`` for anything but an absolute
    http(s) URL without user info.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        raise ValueError("not an absolute http(s) URL")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = parts.port
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{_remove_dot_segments(_PERCENT.sub(_percent, parts.path or '/'))}"


def _percent(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else f"%{match.group(1).upper()}"


def _remove_dot_segments(path: str) -> str:
    segments = path.split("/")[1:]
    kept: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment in (".", ".."):
            if segment == ".." and kept:
                kept.pop()
            if last:
                kept.append("")
        else:
            kept.append(segment)
    return "/" + "/".join(kept)


def _check_request(claims: Mapping[str, Any], method: str, url: str) -> None:
    if claims.get("htm") != method:
        raise DpopProofError("dpop.htm")
    htu = claims.get("htu")
    try:
        matches = isinstance(htu, str) and normalise_htu(htu) == normalise_htu(url)
    except ValueError:
        matches = False
    if not matches:
        raise DpopProofError("dpop.htu")


def _check_iat(claims: Mapping[str, Any], now: float, max_age: float, skew: float) -> int:
    iat = claims.get("iat")
    if type(iat) is not int:
        raise DpopProofError("dpop.iat")
    if iat > now + skew:
        raise DpopProofError("dpop.iat_future")
    if iat < now - max_age - skew:
        raise DpopProofError("dpop.iat_old")
    return iat


def _check_ath(claims: Mapping[str, Any], access_token: str | None) -> None:
    ath = claims.get("ath")
    if access_token is None:
        if ath is not None:
            raise DpopProofError("dpop.ath_unexpected")
        return
    if not isinstance(ath, str) or not access_token.isascii():
        raise DpopProofError("dpop.ath")
    if not hmac.compare_digest(
        ath.encode("ascii", "replace"), access_token_hash(access_token).encode("ascii")
    ):
        raise DpopProofError("dpop.ath")
