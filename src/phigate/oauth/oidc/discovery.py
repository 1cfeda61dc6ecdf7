"""``/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0, RFC 8414 fields).

With ``people`` on, it also describes the authorization code flow for apps
acting for people: the authorization and UserInfo endpoints, PKCE ``S256``
only, ``iss`` in authorization responses (RFC 9207), ID token algorithms.
"""

from __future__ import annotations

from typing import Any

from phigate.oauth.endpoints import CLIENT_ASSERTION_ALGORITHMS, DPOP_ALGORITHMS, Endpoints
from phigate.people.roles import PEOPLE_SCOPES


def provider_metadata(
    endpoints: Endpoints, signing_algorithm: str, scopes: list[str], *, people: bool = False
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "issuer": endpoints.issuer,
        "jwks_uri": endpoints.jwks,
        "token_endpoint": endpoints.token,
        "introspection_endpoint": endpoints.introspection,
        "revocation_endpoint": endpoints.revocation,
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": ["token"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": sorted(CLIENT_ASSERTION_ALGORITHMS),
        "introspection_endpoint_auth_methods_supported": ["private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": ["private_key_jwt"],
        "access_token_signing_alg_values_supported": [signing_algorithm],
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        "tls_client_certificate_bound_access_tokens": True,
        "scopes_supported": scopes,
        "subject_types_supported": ["public"],
    }
    if people:
        document |= {
            "authorization_endpoint": endpoints.authorization,
            "scopes_supported": [*scopes, *PEOPLE_SCOPES],
            "userinfo_endpoint": endpoints.userinfo,
            "end_session_endpoint": endpoints.issuer + "/oauth2/logout",
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "id_token_signing_alg_values_supported": [signing_algorithm],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "acr",
                "amr",
                "fhirUser",
            ],
            "acr_values_supported": ["urn:phigate:aal1", "urn:phigate:aal2"],
        }
    return document
