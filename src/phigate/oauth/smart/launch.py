"""SMART App Launch at the token endpoint: tokens for an app acting for a person.

Grants ``authorization_code`` (with PKCE) and ``refresh_token``. A public app
(``client-public``) names itself with ``client_id``; a confidential one
authenticates with ``private_key_jwt``. The response carries the granted
``scope``, ``patient`` when a patient is in context, an ``id_token`` for
``openid`` and a rotating refresh token for ``offline_access`` or
``online_access``. The access token holds ``sub`` (the person), ``patient``,
``fhirUser``, ``acr`` and ``amr``, so the resource server confines it exactly
as the app was granted.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from phigate.oauth.oidc.id_token import fhir_user_url, id_token
from phigate.oauth.rfc6749.authorization_code import AuthorizationCodeGrant
from phigate.oauth.rfc6749.errors import InvalidClient, InvalidGrant, UnsupportedGrantType
from phigate.oauth.rfc6749.refresh import Family, RefreshTokenGrant
from phigate.oauth.rfc7523 import AssertionAuthenticator
from phigate.oauth.rfc9068 import AccessTokens
from phigate.people.break_glass import CLAIM as BREAK_GLASS_CLAIM
from phigate.people.grants import Approval, GrantStore, Issued
from phigate.people.store import UserStore
from phigate.ports import RevocationList
from phigate.types import ClientId
from phigate.vendors.clients import AuthMethod, ClientRegistry, ClientStatus, OAuthClient

log = structlog.get_logger("phigate.oauth")
PERSON_GRANTS = frozenset({"authorization_code", "refresh_token"})


@dataclass(frozen=True)
class Revoker:
    """Revokes what a replayed code or refresh token issued, on every node."""

    store: GrantStore
    revocations: RevocationList

    async def __call__(self, issued: list[Issued], family_id: str | None) -> None:
        if family_id is not None:
            issued = [*issued, *await self.store.revoke_family(family_id)]
        for each in issued:
            await self.revocations.revoke(each.jti, each.expires_at)

    async def user(self, user_id: str) -> int:
        """Revoke every refresh family of the person, and the access tokens they issued; how many tokens."""
        issued = await self.store.revoke_user(user_id)
        await self(issued, None)
        return len(issued)


@dataclass(frozen=True)
class LaunchTokens:
    codes: AuthorizationCodeGrant
    refresh: RefreshTokenGrant
    store: GrantStore
    tokens: AccessTokens
    clients: ClientRegistry
    authenticator: AssertionAuthenticator
    users: UserStore
    token_endpoint: str
    emergency_seconds: int = 120  # lifetime of a break-glass token (no refresh)

    async def token(self, form: Mapping[str, str], client: OAuthClient, now: float) -> dict[str, Any]:
        """The token response for ``client`` (already authenticated by :meth:`client`)."""
        grant_type = form.get("grant_type")
        if grant_type not in PERSON_GRANTS:
            raise UnsupportedGrantType()
        if grant_type == "authorization_code":
            code_hash, approval = await self.codes.redeem(form, client.client_id, now)
            await self._check_user(approval)
            reply, family, issued = await self._reply(approval, None, now, with_id_token=True)
            await self.store.code_issued(code_hash, family, issued)
        else:
            approval, old = await self.refresh.rotate(form, client.client_id, now)
            await self._check_user(approval)
            reply, _, _ = await self._reply(approval, old, now, with_id_token=False)
        return reply

    async def client(self, form: Mapping[str, str], now: float) -> OAuthClient:
        """The calling app: a public client by ``client_id``, a confidential one by its assertion."""
        if form.get("client_assertion"):
            return await self.authenticator.authenticate(form, self.token_endpoint, now)
        client_id = form.get("client_id", "")
        client = await self.clients.get(ClientId(client_id)) if 0 < len(client_id) <= 128 else None
        if (
            client is None
            or client.status is not ClientStatus.active
            or client.auth_method is not AuthMethod.none
        ):
            raise InvalidClient()  # a confidential client must authenticate (ASVS 10.4.10)
        return client

    async def _check_user(self, approval: Approval) -> None:
        user = await self.users.get(approval.user_id)
        if user is None or not user.active or user.locked:
            raise InvalidGrant()

    async def _reply(
        self, approval: Approval, family: Family | None, now: float, *, with_id_token: bool
    ) -> tuple[dict[str, Any], str | None, Issued]:
        tokens = self._emergency_tokens() if approval.break_glass else self.tokens
        token, claims = tokens.issue(
            approval.client_id, approval.scope, approval.audience, int(now),
            subject=approval.user_id, extra=_person_claims(approval),
        )  # fmt: skip
        issued = Issued(str(claims["jti"]), float(claims["exp"]))
        scope = set(approval.scope.split())
        reply: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": claims["exp"] - claims["iat"],
            "scope": approval.scope,
        }
        if approval.patient:
            reply["patient"] = approval.patient
            reply["need_patient_banner"] = True
        if approval.encounter:
            reply["encounter"] = approval.encounter
        if with_id_token and "openid" in scope:
            reply["id_token"] = id_token(self.tokens.keys, self.tokens.issuer, approval, int(now), scope)
        family_id = None
        if scope & {"offline_access", "online_access"} and not approval.break_glass:
            family = family or Family(_family_id(), now)
            reply["refresh_token"] = await self.refresh.issue(approval, family, issued, now)
            family_id = family.family_id
        log.info("person_token_issued", client_id=approval.client_id, user_id=approval.user_id,
                 jti=claims["jti"], scope=approval.scope)  # fmt: skip
        return reply, family_id, issued

    def _emergency_tokens(self) -> AccessTokens:
        """The same keys and issuer, with the short break-glass lifetime (never longer than usual)."""
        seconds = min(self.emergency_seconds, self.tokens.settings.access_token_seconds)
        settings = self.tokens.settings.model_copy(update={"access_token_seconds": seconds})
        return AccessTokens(self.tokens.keys, settings, self.tokens.issuer)


def _person_claims(approval: Approval) -> dict[str, Any]:
    claims: dict[str, Any] = {"acr": approval.acr, "amr": list(approval.amr), "auth_time": approval.auth_time}
    if approval.patient:
        claims["patient"] = approval.patient
    if (url := fhir_user_url(approval)) is not None:
        claims["fhirUser"] = url
    if approval.break_glass:
        claims[BREAK_GLASS_CLAIM] = approval.break_glass
    return claims


def _family_id() -> str:
    return secrets.token_urlsafe(16)
