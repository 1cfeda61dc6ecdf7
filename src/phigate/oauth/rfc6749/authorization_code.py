"""RFC 6749 4.1 authorization code grant, with PKCE (RFC 7636) and single use (ASVS 10.4.2).

A code lives ``code_seconds`` (at most 10 minutes; 60 s by default) and is
bound to its client, redirect URI and PKCE challenge. Redeeming it twice fails
and revokes everything its first redemption issued: the refresh family and
the access token (RFC 6749 4.1.2). Every failure is ``invalid_grant``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import structlog

from phigate.oauth.rfc6749.errors import InvalidGrant, InvalidRequest
from phigate.oauth.rfc7636 import verifier_matches
from phigate.people.grants import Approval, CodeGrant, GrantStore, Issued, hashed, new_secret

log = structlog.get_logger("phigate.oauth")
Revoke = Callable[[list[Issued], str | None], Awaitable[None]]


@dataclass(frozen=True)
class AuthorizationCodeGrant:
    store: GrantStore
    code_seconds: int
    revoke: Revoke  # revokes access tokens and (by family id) refresh tokens

    async def issue(self, approval: Approval, code_challenge: str, now: float) -> str:
        code, code_hash = new_secret()
        await self.store.save_code(CodeGrant(code_hash, approval, code_challenge, now + self.code_seconds))
        return code

    async def redeem(self, form: Mapping[str, str], client_id: str, now: float) -> tuple[str, Approval]:
        """The approval behind ``form["code"]`` and the code's hash; ``invalid_grant`` for any failure."""
        code = form.get("code")
        if not code:
            raise InvalidRequest("The code parameter is required.")
        code_hash = hashed(code)
        redemption = await self.store.redeem_code(code_hash)
        if redemption is None:
            raise InvalidGrant()
        grant = redemption.grant
        if not redemption.first:
            family, issued = await self.store.code_tokens(code_hash)
            await self.revoke(issued, family)
            log.warning("code_replayed", client_id=grant.approval.client_id, revoked=len(issued))
            raise InvalidGrant()
        approval = grant.approval
        if approval.client_id != client_id or form.get("redirect_uri") != approval.redirect_uri:
            raise InvalidGrant()
        if now >= grant.expires_at:
            raise InvalidGrant("The authorization code has expired.")
        if not verifier_matches(form.get("code_verifier"), grant.code_challenge):
            raise InvalidGrant("The code_verifier does not match the code_challenge.")
        return code_hash, approval
