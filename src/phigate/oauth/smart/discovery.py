"""``[fhir-base]/.well-known/smart-configuration`` (SMART App Launch 2.x, section 4.2).

Backend Services (client_credentials with private_key_jwt) always; with
``people`` on, the standalone and EHR launches for apps acting for people:
public and confidential apps, OpenID Connect, patient context (from the EHR or
the patient picker), encounter context from the EHR, patient and user scopes,
offline access.
Public apps are announced by the ``client-public`` capability; the OpenID
document also lists ``none`` among the token endpoint's methods (RFC 8414).
"""

from __future__ import annotations

from typing import Any

from phigate.oauth.endpoints import CLIENT_ASSERTION_ALGORITHMS, DPOP_ALGORITHMS, Endpoints
from phigate.people.roles import PEOPLE_SCOPES

CAPABILITIES = ("client-confidential-asymmetric", "permission-v1", "permission-v2")
PEOPLE_CAPABILITIES = (
    "launch-standalone",
    "launch-ehr",
    "context-ehr-patient",
    "context-ehr-encounter",
    "client-public",
    "sso-openid-connect",
    "context-standalone-patient",
    "permission-patient",
    "permission-user",
    "permission-offline",
    "permission-online",
)


def smart_configuration(endpoints: Endpoints, scopes: list[str], *, people: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = {
        "issuer": endpoints.issuer,
        "jwks_uri": endpoints.jwks,
        "token_endpoint": endpoints.token,
        "introspection_endpoint": endpoints.introspection,
        "revocation_endpoint": endpoints.revocation,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": sorted(CLIENT_ASSERTION_ALGORITHMS),
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        "capabilities": list(CAPABILITIES),
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": scopes,
        "response_types_supported": ["token"],
    }
    if people:
        document |= {
            "authorization_endpoint": endpoints.authorization,
            "scopes_supported": [*scopes, *PEOPLE_SCOPES],
            "userinfo_endpoint": endpoints.userinfo,
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "capabilities": [*CAPABILITIES, *PEOPLE_CAPABILITIES],
            "response_types_supported": ["code"],
            "authorization_response_iss_parameter_supported": True,
        }
    return document
