"""OpenID Connect Core 1.0 2: the ID token phigate issues when an app asks for ``openid``.

Signed by the gateway's current signing key (the algorithm of ``jwks_uri``),
``aud`` the app's client id, with ``auth_time``, ``nonce`` (when sent), ``acr``
and ``amr`` (RFC 8176) and SMART's ``fhirUser`` (an absolute resource URL).
"""

from __future__ import annotations

from typing import Any

from phigate.oauth.jose import sign_jwt
from phigate.oauth.rfc9068 import TokenKeys
from phigate.people.grants import Approval

ID_TOKEN_SECONDS = 300


def fhir_user_url(approval: Approval) -> str | None:
    return f"{approval.audience}/{approval.fhir_user}" if approval.fhir_user else None


def id_token(keys: TokenKeys, issuer: str, approval: Approval, now: int, scope: set[str]) -> str:
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": approval.user_id,
        "aud": approval.client_id,
        "azp": approval.client_id,
        "iat": now,
        "exp": now + ID_TOKEN_SECONDS,
        "auth_time": approval.auth_time,
        "acr": approval.acr,
        "amr": list(approval.amr),
    }
    if approval.nonce:
        claims["nonce"] = approval.nonce
    if "fhirUser" in scope and (url := fhir_user_url(approval)):
        claims["fhirUser"] = url
    return sign_jwt(claims, keys.active(), typ="JWT")
