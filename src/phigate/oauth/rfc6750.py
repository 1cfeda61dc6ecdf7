"""RFC 6750 (Bearer Token Usage) and RFC 9449 section 7 (the DPoP scheme): where a token may come from.

Only the ``Authorization`` header carries an access token. A token in the
query string (``access_token=``) is refused outright, whatever else the request
holds: URLs end up in logs, histories and Referer headers (RFC 9700 2.5,
ASVS 14.2.1). A form-body token is not looked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from phigate.errors import AuthenticationRequired


class TokenInQuery(AuthenticationRequired):
    message = "Access tokens are accepted only in the Authorization header, never in the URL."
    headers = (("www-authenticate", 'Bearer realm="phigate", error="invalid_request"'),)


@dataclass(frozen=True)
class PresentedToken:
    scheme: str  # "bearer" or "dpop"
    token: str


def presented_token(authorization: str | None, query: str) -> PresentedToken | None:
    """The token the request presents, or None; raises :class:`TokenInQuery` for a token in the URL."""
    if "access_token" in query and any(
        k == "access_token" for k, _ in parse_qsl(query, keep_blank_values=True)
    ):
        raise TokenInQuery()
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    scheme = scheme.lower()
    token = token.strip()
    if scheme not in ("bearer", "dpop") or not token or " " in token:
        return None
    return PresentedToken(scheme, token)
