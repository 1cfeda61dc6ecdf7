"""RFC 9068, JWT Profile for OAuth 2.0 Access Tokens: what phigate's access tokens hold.

``typ`` is ``at+jwt``; claims ``iss``, ``sub`` and ``client_id`` (the client,
for client_credentials), ``aud`` (exactly one FHIR base of this gateway),
``scope`` (the granted SMART scopes), ``iat``, ``exp`` (short), ``jti`` (for
revocation) and, for a sender-constrained token, ``cnf`` (``jkt`` for DPoP,
``x5t#S256`` for mTLS). Signed with the gateway's current signing key (``kid``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from phigate.oauth.jose import KeySet, PrivateKey, check_claims, sign_jwt, verify_jwt
from phigate.settings import OAuthSettings

ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - a media type, not a secret


class TokenKeys(Protocol):
    """The gateway's own signing keys (``phigate.oauth.keys``)."""

    def active(self) -> PrivateKey: ...

    def verification_keys(self) -> KeySet: ...


@dataclass(frozen=True)
class Confirmation:
    """What a token is bound to: a DPoP key thumbprint or a client certificate thumbprint."""

    jkt: str | None = None
    x5t_s256: str | None = None

    def claim(self) -> dict[str, str] | None:
        if self.jkt is not None:
            return {"jkt": self.jkt}
        if self.x5t_s256 is not None:
            return {"x5t#S256": self.x5t_s256}
        return None


@dataclass(frozen=True)
class AccessTokens:
    keys: TokenKeys
    settings: OAuthSettings
    issuer: str

    def issue(
        self,
        client_id: str,
        scope: str,
        audience: str,
        now: int,
        confirmation: Confirmation | None = None,
        *,
        subject: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """A signed access token; ``subject`` is the person an app acts for (default: the client).

        ``extra`` adds claims of a person's token (``patient``, ``fhirUser``, ``acr``, ``amr``);
        it never replaces one of the claims set here.
        """
        claims: dict[str, Any] = {
            **(extra or {}),
            "iss": self.issuer,
            "sub": subject or client_id,
            "client_id": client_id,
            "aud": audience,
            "scope": scope,
            "iat": now,
            "exp": now + self.settings.access_token_seconds,
            "jti": secrets.token_urlsafe(18),
        }
        cnf = confirmation.claim() if confirmation is not None else None
        if cnf is not None:
            claims["cnf"] = cnf
        key = self.keys.active()
        return sign_jwt(claims, key, typ=ACCESS_TOKEN_TYP), claims

    def verify(self, token: str, audiences: frozenset[str], now: float) -> dict[str, Any]:
        """Claims of one of our own valid access tokens; raises ``TokenError`` (one 401 for every cause)."""
        keys = self.keys.verification_keys()
        claims = verify_jwt(
            token,
            keys,
            # Each key is pinned to its own algorithm; after a change of signing_algorithm the
            # previous key's tokens stay valid until they expire.
            algorithms={alg for key in keys for alg in key.algorithms} or {self.settings.signing_algorithm},
            typ=ACCESS_TOKEN_TYP,
            max_bytes=self.settings.max_token_bytes,
        )
        check_claims(
            claims,
            issuer=self.issuer,
            audience=audiences,
            now=now,
            skew=self.settings.clock_skew_seconds,
            required=("exp", "iat", "jti", "client_id", "scope"),
        )
        return claims
