"""RFC 7636, Proof Key for Code Exchange, as SMART requires it: ``S256`` only, always.

``plain`` is refused (SMART App Launch: "SHALL NOT support plain"); a request
without a challenge is refused; a verifier is 43 to 128 unreserved characters
and is compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256, unpadded
METHOD = "S256"


def challenge_problem(challenge: str | None, method: str | None) -> str | None:
    """Why an authorization request's PKCE parameters are refused, or ``None`` when they are sound."""
    if not challenge:
        return "PKCE is required: send code_challenge with code_challenge_method=S256."
    if method != METHOD:
        return "Only code_challenge_method=S256 is supported (plain is refused)."
    if not _CHALLENGE.fullmatch(challenge):
        return "The code_challenge is not a base64url SHA-256 value."
    return None


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verifier_matches(verifier: str | None, challenge: str) -> bool:
    if verifier is None or not _VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(s256(verifier), challenge)
