"""SMART standalone launch at ``/oauth2/authorize``: check the request, offer scopes, issue the code.

The pages (:mod:`phigate.asgi.pages`) call these steps in order; each is a
value or an OAuth error, never an HTML concern. What a person may approve is
:func:`phigate.people.access.offer`: requested ∩ registered ∩ role ceiling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from phigate.oauth.endpoints import Endpoints
from phigate.oauth.rfc6749.authorization_code import AuthorizationCodeGrant
from phigate.oauth.rfc6749.authorization_request import (
    AuthorizationRequest,
    check_request,
    single_values,
)
from phigate.people.access import Offer, RolePolicy, approve, offer
from phigate.people.apps import AppRegistry
from phigate.people.break_glass import EmergencyPolicy
from phigate.people.grants import Approval
from phigate.people.sessions import Session
from phigate.people.users import User
from phigate.policy.scopes import InvalidScope, ScopeSet
from phigate.types import ClientId
from phigate.vendors.clients import ClientRegistry, OAuthClient


@dataclass(frozen=True)
class AppAuthorization:
    clients: ClientRegistry
    apps: AppRegistry
    roles: RolePolicy
    codes: AuthorizationCodeGrant
    endpoints: Endpoints

    async def check(self, pairs: Sequence[tuple[str, str]]) -> AuthorizationRequest:
        params = single_values(pairs)
        client = await self.app(params.get("client_id", ""))
        registered = await self.apps.redirect_uris(client.client_id) if client is not None else ()
        return check_request(params, registered, self.endpoints.fhir_bases, self.endpoints.issuer)

    async def app(self, client_id: str) -> OAuthClient | None:
        if not 0 < len(client_id) <= 128:
            return None
        client = await self.clients.get(ClientId(client_id))
        return client if client is not None and client.active else None

    async def offer(self, request: AuthorizationRequest, user: User) -> Offer:
        client = await self.app(request.client_id)
        registered = ScopeSet.parse(client.scopes) if client is not None else ScopeSet()
        return offer(ScopeSet.parse(request.scope), registered, user, self.roles)

    async def approve(
        self, request: AuthorizationRequest, user: User, session: Session, chosen: Sequence[str], now: float
    ) -> str | None:
        """The redirect URL with a new code, or ``None`` when nothing was approved."""
        offered = await self.offer(request, user)
        try:
            approved = approve(offered, ScopeSet.parse(" ".join(chosen[:100])))
        except InvalidScope:
            return None
        if not approved:
            return None
        return await self.issue(request, user, session, Offer(approved, offered.patient), now)

    async def emergency_offer(
        self, request: AuthorizationRequest, user: User, policy: EmergencyPolicy
    ) -> Offer:
        """What breaking the glass would grant the app for this person (:mod:`phigate.people.break_glass`)."""
        client = await self.app(request.client_id)
        registered = ScopeSet.parse(client.scopes) if client is not None else ScopeSet()
        return policy.offer(ScopeSet.parse(request.scope), registered, user, self.roles)

    async def issue(
        self, request: AuthorizationRequest, user: User, session: Session, granted: Offer, now: float,
        break_glass: str | None = None,
    ) -> str:  # fmt: skip
        """The redirect URL with a new code for exactly ``granted``."""
        approval = Approval(
            client_id=request.client_id,
            user_id=user.user_id,
            scope=granted.scopes.to_string(),
            redirect_uri=request.redirect_uri,
            audience=request.aud,
            auth_time=int(session.auth_time),
            amr=session.amr,
            acr=session.acr,
            patient=granted.patient,
            fhir_user=user.fhir_user,
            nonce=request.nonce,
            break_glass=break_glass,
        )
        code = await self.codes.issue(approval, request.code_challenge, now)
        return request.reply_url({"code": code}, self.endpoints.issuer)

    def denied(self, request: AuthorizationRequest) -> str:
        reply = {"error": "access_denied", "error_description": "The person did not approve the request."}
        return request.reply_url(reply, self.endpoints.issuer)
