"""The state of one sign-in, carried from page to page: sealed, short-lived, bound to the browser.

Each page's form holds a flow token: a JWS signed with the gateway's own key
(``typ`` ``phigate-flow+jwt``), so every node can check it without shared
storage. It names the checked authorization request, the step reached
(``signin`` → ``mfa`` or ``enrol`` → ``patient`` → ``consent``), after the
password the user and, once chosen in the picker, the patient in context. It
is bound to a random cookie (its SHA-256 is in the token): a form posted from
another site, or with another browser's token, is refused (CSRF). It holds
nothing secret: the browser may read it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from phigate.oauth.jose import TokenError, check_claims, sign_jwt, verify_jwt
from phigate.oauth.rfc6749.authorization_request import AuthorizationRequest
from phigate.oauth.rfc9068 import TokenKeys

FLOW_TYP = "phigate-flow+jwt"
STEPS = frozenset({"signin", "mfa", "enrol", "patient", "consent"})


class FlowRefused(TokenError):
    """The page's flow token is missing, expired, forged or from another browser."""


@dataclass(frozen=True)
class Flow:
    request: AuthorizationRequest
    step: str
    user_id: str | None = None
    patient: str | None = None  # chosen in the patient picker (standalone launch)


@dataclass(frozen=True)
class FlowSeal:
    keys: TokenKeys
    issuer: str
    seconds: int
    max_bytes: int = 8192

    @property
    def audience(self) -> str:
        return self.issuer + "/oauth2/authorize"

    def seal(self, flow: Flow, browser: str, now: float) -> str:
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": int(now),
            "exp": int(now) + self.seconds,
            "jti": secrets.token_urlsafe(12),
            "req": flow.request.as_json(),
            "step": flow.step,
            "csrf": _binding(browser),
        }
        if flow.user_id is not None:
            claims["uid"] = flow.user_id
        if flow.patient is not None:
            claims["pat"] = flow.patient
        return sign_jwt(claims, self.keys.active(), typ=FLOW_TYP)

    def open(self, token: str | None, browser: str | None, now: float, *steps: str) -> Flow:
        """The flow in ``token`` when it is ours, fresh, at one of ``steps`` and bound to ``browser``."""
        if not token or not browser:
            raise FlowRefused("flow.missing")
        keys = self.keys.verification_keys()
        claims = verify_jwt(
            token,
            keys,
            algorithms={alg for key in keys for alg in key.algorithms},
            typ=FLOW_TYP,
            max_bytes=self.max_bytes,
        )
        check_claims(claims, issuer=self.issuer, audience=self.audience, now=now, skew=0, required=("exp",))
        if not hmac.compare_digest(str(claims.get("csrf", "")), _binding(browser)):
            raise FlowRefused("flow.browser")
        if claims.get("step") not in steps or not isinstance(claims.get("req"), dict):
            raise FlowRefused("flow.step")
        uid, patient = claims.get("uid"), claims.get("pat")
        request = AuthorizationRequest.from_json(claims["req"])
        return Flow(request, str(claims["step"]), uid if isinstance(uid, str) else None,
                    patient if isinstance(patient, str) else None)  # fmt: skip


def new_browser_binding() -> str:
    return secrets.token_urlsafe(32)


def _binding(browser: str) -> str:
    return hashlib.sha256(browser.encode("utf-8", "replace")).hexdigest()
