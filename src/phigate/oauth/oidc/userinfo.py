"""OpenID Connect Core 1.0 5.3: ``/oauth2/userinfo`` for a person's access token with ``openid``.

The answer holds ``sub`` and, with the ``fhirUser`` scope, ``fhirUser``; a
token without ``openid`` (or of a client acting for itself) gets
``insufficient_scope``. The token is checked exactly as the FHIR endpoints
check it (signature, audience, expiry, revocation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phigate.errors import Forbidden


class InsufficientScope(Forbidden):
    message = "The access token was not granted the openid scope."
    headers = (("www-authenticate", 'Bearer realm="phigate", error="insufficient_scope", scope="openid"'),)


def userinfo(claims: Mapping[str, Any]) -> dict[str, Any]:
    scopes = set(str(claims.get("scope", "")).split())
    if "openid" not in scopes or claims.get("sub") == claims.get("client_id"):
        raise InsufficientScope()
    answer: dict[str, Any] = {"sub": claims["sub"]}
    if "fhirUser" in scopes and isinstance(claims.get("fhirUser"), str):
        answer["fhirUser"] = claims["fhirUser"]
    return answer
