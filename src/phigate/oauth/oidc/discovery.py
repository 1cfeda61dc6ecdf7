"""``/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0, RFC 8414 fields)."""

from __future__ import annotations

from typing import Any

from phigate.oauth.endpoints import CLIENT_ASSERTION_ALGORITHMS, DPOP_ALGORITHMS, Endpoints


def provider_metadata(endpoints: Endpoints, signing_algorithm: str, scopes: list[str]) -> dict[str, Any]:
    return {
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
