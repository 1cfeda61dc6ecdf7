"""RFC 6749 6 refresh tokens, rotated on every use with reuse detection (RFC 9700 4.14.2).

Each use returns a new refresh token of the same family and retires the old
one. Presenting a retired token again means it leaked: the whole family is
revoked, with the access tokens it issued (ASVS 10.4.5). A family ends
``refresh_seconds`` after its first grant whatever the rotations (ASVS
10.4.8). A refresh may narrow the scope, never widen it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace

import structlog

from phigate.oauth.rfc6749.authorization_code import Revoke
from phigate.oauth.rfc6749.errors import InvalidGrant, InvalidRequest, InvalidScope
from phigate.people.grants import Approval, GrantStore, Issued, RefreshGrant, hashed, new_secret
from phigate.policy.scopes import InvalidScope as MalformedScope
from phigate.policy.scopes import ScopeSet

log = structlog.get_logger("phigate.oauth")


@dataclass(frozen=True)
class Family:
    family_id: str
    started_at: float


@dataclass(frozen=True)
class RefreshTokenGrant:
    store: GrantStore
    refresh_seconds: int
    revoke: Revoke

    async def issue(self, approval: Approval, family: Family | None, issued: Issued, now: float) -> str:
        family = family or Family(secrets.token_urlsafe(16), now)
        token, token_hash = new_secret()
        expires = family.started_at + self.refresh_seconds
        await self.store.save_refresh(
            RefreshGrant(token_hash, family.family_id, approval, family.started_at, expires), issued
        )
        return token

    async def rotate(self, form: Mapping[str, str], client_id: str, now: float) -> tuple[Approval, Family]:
        token = form.get("refresh_token")
        if not token:
            raise InvalidRequest("The refresh_token parameter is required.")
        redemption = await self.store.rotate_refresh(hashed(token))
        if redemption is None:
            raise InvalidGrant()
        grant = redemption.grant
        if not redemption.first:
            await self.revoke(await self.store.revoke_family(grant.family_id), None)
            log.warning("refresh_token_replayed", client_id=grant.approval.client_id)
            raise InvalidGrant()
        if grant.approval.client_id != client_id:
            raise InvalidGrant()
        if now >= grant.expires_at:
            raise InvalidGrant("The refresh token has expired; sign in again.")
        approval = _narrowed(grant.approval, form.get("scope"))
        return approval, Family(grant.family_id, grant.family_started_at)


def _narrowed(approval: Approval, scope: str | None) -> Approval:
    if not scope:
        return approval
    try:
        asked = ScopeSet.parse(scope)
    except MalformedScope as error:
        raise InvalidScope(error.message) from None
    granted = ScopeSet.parse(approval.scope)
    narrowed = asked.within(granted)
    if narrowed.to_string() != asked.to_string():
        raise InvalidScope("A refresh may narrow the scope, never widen it.")
    return replace(approval, scope=narrowed.to_string())
