"""``[fhir-base]/.well-known/smart-configuration`` (SMART App Launch 2.x, section 4.2).

This issue serves Backend Services (client_credentials with private_key_jwt);
the capabilities grow as the launch flows for people arrive.
"""

from __future__ import annotations

from typing import Any

from phigate.oauth.endpoints import CLIENT_ASSERTION_ALGORITHMS, DPOP_ALGORITHMS, Endpoints

CAPABILITIES = ("client-confidential-asymmetric", "permission-v1", "permission-v2")


def smart_configuration(endpoints: Endpoints, scopes: list[str]) -> dict[str, Any]:
    return {
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
