"""OAuth error responses (RFC 6749 section 5.2), as errors of phigate's one tree.

They render as ``{"error": ..., "error_description": ...}`` with
``Cache-Control: no-store`` instead of an OperationOutcome. The description is
safe: it says what to fix, never which internal check failed in a way that
would help an attacker (a bad signature and an unknown key read the same).
"""

from __future__ import annotations

from typing import Any

from phigate.errors import RequestError


class OAuthError(RequestError):
    status = 400
    code = "invalid"
    error = "invalid_request"
    message = "The request is missing a parameter or is malformed."

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.message}


class InvalidRequest(OAuthError):
    pass


class InvalidClient(OAuthError):
    status = 401
    code = "login"
    error = "invalid_client"
    message = "Client authentication failed."
    headers = (("www-authenticate", 'Bearer realm="phigate", error="invalid_client"'),)


class InvalidGrant(OAuthError):
    error = "invalid_grant"
    message = "The grant is not valid."


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    message = "This client may not use this grant type."


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    message = "The grant type is not supported."


class InvalidScope(OAuthError):
    error = "invalid_scope"
    message = "The requested scope is invalid or exceeds what the client is registered for."


class InvalidDpopProof(OAuthError):
    error = "invalid_dpop_proof"
    message = "The DPoP proof is not valid."
