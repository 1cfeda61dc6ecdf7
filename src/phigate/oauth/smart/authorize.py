"""SMART launch at ``/oauth2/authorize``: check the request, offer scopes, issue the code.

The pages (:mod:`phigate.asgi.pages`) call these steps in order; each is a
value or an OAuth error, never an HTML concern. What a person may approve is
:func:`phigate.people.access.offer`: requested ∩ registered ∩ role ceiling,
in the patient context of the launch. An EHR launch names its context with
``launch`` (:mod:`phigate.people.launches`): it must exist, be live, be for
this app and, when the EHR named the person, be completed by that person; a
patient user is only ever launched into their own record. A standalone launch
asking for ``launch/patient`` gets its patient from the picker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from phigate.oauth.endpoints import Endpoints
from phigate.oauth.rfc6749.authorization_code import AuthorizationCodeGrant
from phigate.oauth.rfc6749.authorization_request import (
    AuthorizationRequest,
    AuthorizeRefused,
    RedirectedError,
    check_request,
    single_values,
)
from phigate.people.access import Offer, RolePolicy, approve, offer
from phigate.people.apps import AppRegistry
from phigate.people.break_glass import EmergencyPolicy
from phigate.people.grants import Approval
from phigate.people.launches import LaunchContext, LaunchStore, launch_hash
from phigate.people.sessions import Session
from phigate.people.users import User
from phigate.policy.scopes import InvalidScope, ScopeSet
from phigate.types import ClientId
from phigate.vendors.clients import ClientRegistry, OAuthClient

LAUNCH_GONE = "The launch is unknown, already used or expired: open the app from the EHR again."


class LaunchRefused(AuthorizeRefused):
    """An EHR launch the signed-in person may not complete: shown on a page, never redirected."""


@dataclass(frozen=True)
class AppAuthorization:
    clients: ClientRegistry
    apps: AppRegistry
    roles: RolePolicy
    codes: AuthorizationCodeGrant
    endpoints: Endpoints
    launches: LaunchStore | None = None
    clock: Callable[[], float] = field(default=time.time)

    async def check(self, pairs: Sequence[tuple[str, str]]) -> AuthorizationRequest:
        params = single_values(pairs)
        client = await self.app(params.get("client_id", ""))
        registered = await self.apps.redirect_uris(client.client_id) if client is not None else ()
        request = check_request(params, registered, self.endpoints.fhir_bases, self.endpoints.issuer)
        await self.launch_context(request)
        return request

    async def launch_context(self, request: AuthorizationRequest) -> LaunchContext | None:
        """The EHR launch's context; :class:`RedirectedError` when unknown, used, expired or another app's."""
        if request.launch is None:
            return None
        context = await self.launches.get(launch_hash(request.launch)) if self.launches is not None else None
        if context is None or not context.live(self.clock()) or context.client_id != request.client_id:
            raise RedirectedError("invalid_request", LAUNCH_GONE, request, self.endpoints.issuer)
        return context

    async def app(self, client_id: str) -> OAuthClient | None:
        if not 0 < len(client_id) <= 128:
            return None
        client = await self.clients.get(ClientId(client_id))
        return client if client is not None and client.active else None

    async def offer(self, request: AuthorizationRequest, user: User, patient: str | None = None) -> Offer:
        """What the person may approve; ``patient`` is the picker's choice (standalone launch only)."""
        client = await self.app(request.client_id)
        registered = ScopeSet.parse(client.scopes) if client is not None else ScopeSet()
        patient, encounter = await self._context(request, user, patient)
        return offer(ScopeSet.parse(request.scope), registered, user, self.roles, patient, encounter)

    def needs_patient(self, request: AuthorizationRequest, offered: Offer) -> bool:
        """True when the picker must come before consent: a standalone launch that may be granted
        ``launch/patient`` (asked, registered, within the role) with no patient in context."""
        return request.launch is None and offered.patient_wanted

    async def approve(
        self, request: AuthorizationRequest, user: User, session: Session, chosen: Sequence[str], now: float,
        patient: str | None = None,
    ) -> str | None:  # fmt: skip
        """The redirect URL with a new code, or ``None`` when nothing was approved."""
        offered = await self.offer(request, user, patient)
        try:
            approved = approve(offered, ScopeSet.parse(" ".join(chosen[:100])))
        except InvalidScope:
            return None
        if not approved:
            return None
        granted = Offer(approved, offered.patient, offered.encounter)
        return await self.issue(request, user, session, granted, now)

    async def emergency_offer(
        self, request: AuthorizationRequest, user: User, policy: EmergencyPolicy, patient: str | None = None
    ) -> Offer:
        """What breaking the glass would grant the app for this person (:mod:`phigate.people.break_glass`)."""
        client = await self.app(request.client_id)
        registered = ScopeSet.parse(client.scopes) if client is not None else ScopeSet()
        patient, encounter = await self._context(request, user, patient)
        return policy.offer(ScopeSet.parse(request.scope), registered, user, self.roles, patient, encounter)

    async def issue(
        self, request: AuthorizationRequest, user: User, session: Session, granted: Offer, now: float,
        break_glass: str | None = None,
    ) -> str:  # fmt: skip
        """The redirect URL with a new code for exactly ``granted``; an EHR launch is used up here."""
        if request.launch is not None and (
            self.launches is None or not await self.launches.consume(launch_hash(request.launch), now)
        ):
            raise RedirectedError("invalid_request", LAUNCH_GONE, request, self.endpoints.issuer)
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
            encounter=granted.encounter,
            fhir_user=user.fhir_user,
            nonce=request.nonce,
            break_glass=break_glass,
        )
        code = await self.codes.issue(approval, request.code_challenge, now)
        return request.reply_url({"code": code}, self.endpoints.issuer)

    def denied(self, request: AuthorizationRequest) -> str:
        reply = {"error": "access_denied", "error_description": "The person did not approve the request."}
        return request.reply_url(reply, self.endpoints.issuer)

    async def _context(
        self, request: AuthorizationRequest, user: User, chosen: str | None
    ) -> tuple[str | None, str | None]:
        """The patient and encounter in context: the EHR launch's, else the picker's choice."""
        context = await self.launch_context(request)
        if context is None:
            return (chosen if user.patient_id is None else None), None
        if context.user_id is not None and context.user_id != user.user_id:
            raise LaunchRefused("This launch was started in the EHR by another person.")
        if user.patient_id is not None and user.patient_id != context.patient:
            raise LaunchRefused("This launch is for another patient's record.")
        return context.patient, context.encounter
