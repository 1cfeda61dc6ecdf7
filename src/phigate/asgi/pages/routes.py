"""Page routes of the authorisation server for people (Starlette).

``GET /oauth2/authorize`` checks the app's request, then shows the sign-in
page or, within a live session (SSO), the consent page. ``POST
/oauth2/signin`` takes the password, ``POST /oauth2/mfa`` the second factor
(and completes TOTP enrolment), ``POST /oauth2/patient`` searches and chooses
the patient when a standalone launch asks for ``launch/patient`` and the person
is not a patient (the picker), ``POST /oauth2/consent`` the person's choice,
which redirects to the app with a code. ``GET /oauth2/userinfo`` is OpenID
Connect's UserInfo endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import segno
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from phigate.asgi.pages.patients import PatientChoice, PatientDirectory
from phigate.asgi.pages.rendering import (
    BROWSER_COOKIE,
    SESSION_COOKIE,
    STYLESHEET,
    origin,
    page,
    see_other,
    set_cookie,
)
from phigate.asgi.pages.scopes import described
from phigate.errors import AuthenticationRequired, Forbidden, UpstreamError
from phigate.oauth.flow import Flow, FlowRefused, FlowSeal, new_browser_binding
from phigate.oauth.jose import TokenError
from phigate.oauth.mfa import totp
from phigate.oauth.oidc.userinfo import userinfo
from phigate.oauth.rfc6749.authorization_request import (
    AuthorizationRequest,
    AuthorizeRefused,
    RedirectedError,
)
from phigate.oauth.rfc9068 import AccessTokens
from phigate.oauth.signin import Outcome, SignIn
from phigate.oauth.smart.authorize import AppAuthorization, LaunchRefused
from phigate.oauth.smart.break_glass import EmergencyAccess, EmergencyRefused
from phigate.people.errors import UserError
from phigate.people.sessions import Session
from phigate.people.store import UserStore
from phigate.people.users import User
from phigate.ports import RevocationList

if TYPE_CHECKING:  # webauthn.py imports this module's form helpers
    from phigate.asgi.pages.webauthn import SecurityKeyPages

log = structlog.get_logger("phigate.pages")
MAX_FORM_BYTES = 16 * 1024
MESSAGES = {
    Outcome.refused: "The username or password is not right.",
    Outcome.wait: "Too many attempts. Wait a while, then try again.",
    Outcome.locked: "Sign-in is locked after too many attempts. Ask your administrator to unlock it.",
}
CODE_MESSAGES = {**MESSAGES, Outcome.refused: "That code is not right, or was already used."}


@dataclass
class PeoplePages:
    authorization: AppAuthorization
    signin: SignIn
    users: UserStore
    flows: FlowSeal
    tokens: AccessTokens
    audiences: frozenset[str]
    revocations: RevocationList
    totp_issuer: str = "phigate"
    session_seconds: int = 43200
    clock: Callable[[], float] = field(default=time.time)
    emergency: EmergencyAccess | None = None  # break-glass (HIPAA 164.312(a)(2)(ii))
    revoke_user: Callable[[str], Awaitable[int]] | None = None  # on sign-out: the person's refresh families
    patients: PatientDirectory | None = None  # the patient picker's search (standalone launch/patient)
    keys: SecurityKeyPages | None = None  # WebAuthn on the second-factor and enrolment pages

    def routes(self) -> list[Route]:
        return [
            Route("/oauth2/authorize", self.authorize, methods=["GET"]),
            Route("/oauth2/signin", self.password, methods=["POST"]),
            Route("/oauth2/mfa", self.second_factor, methods=["POST"]),
            Route("/oauth2/patient", self.patient, methods=["POST"]),
            Route("/oauth2/consent", self.consent, methods=["POST"]),
            Route("/oauth2/break-glass", self.break_glass, methods=["POST"]),
            Route("/oauth2/userinfo", self.userinfo, methods=["GET"]),
            Route("/oauth2/logout", self.logout, methods=["GET", "POST"]),
            Route("/oauth2/static/pages.css", _stylesheet, methods=["GET"]),
            *(self.keys.routes() if self.keys is not None else ()),
        ]

    async def authorize(self, request: Request) -> Response:
        pairs = parse_qsl(request.url.query, keep_blank_values=True, max_num_fields=30)
        try:
            checked = await self.authorization.check(pairs)
        except AuthorizeRefused as error:
            return page("error.html", 400, title="This sign-in link is not valid", message=error.message)
        except RedirectedError as error:
            return see_other(error.location)
        browser = request.cookies.get(BROWSER_COOKIE) or new_browser_binding()
        live = await self.signin.session(request.cookies.get(SESSION_COOKIE))
        if live is not None:
            response = await self._consent_page(checked, live[1], browser, live[0])
        else:
            response = await self._signin_page(checked, browser)
        if request.cookies.get(BROWSER_COOKIE) != browser:
            set_cookie(response, BROWSER_COOKIE, browser, max_age=None, same_site="strict")
        return response

    async def password(self, request: Request) -> Response:
        form = await _form(request)
        flow, browser = self._flow(request, form, "signin")
        if flow is None or browser is None:
            return _expired()
        result = await self.signin.password(
            form.get("username", ""), form.get("password", ""), _address(request)
        )
        if result.outcome is Outcome.signed_in:
            return self._signed_in(flow.request, result.session_id)
        if result.outcome in (Outcome.second_factor, Outcome.enrol):
            assert result.user is not None
            step = "mfa" if result.outcome is Outcome.second_factor else "enrol"
            sealed = self.flows.seal(Flow(flow.request, step, result.user.user_id), browser, self.clock())
            if step == "mfa":
                offer = await self._key_offer(result.user.user_id, sealed, step)
                return page("mfa.html", title="Second factor", flow=sealed, **offer)
            return await self._enrol_page(result.user, sealed)
        status = 401 if result.outcome is Outcome.refused else 429
        username = form.get("username", "")[:64]
        return await self._signin_page(flow.request, browser, status, MESSAGES[result.outcome], username)

    async def second_factor(self, request: Request) -> Response:
        form = await _form(request)
        flow, browser = self._flow(request, form, "mfa", "enrol")
        if flow is None or browser is None or flow.user_id is None:
            return _expired()
        result = await self.signin.second_factor(flow.user_id, form.get("code", ""), _address(request))
        if result.outcome is Outcome.signed_in:
            if flow.step == "enrol":
                await self.users.confirm_totp(flow.user_id)
            return self._signed_in(flow.request, result.session_id)
        status = 401 if result.outcome is Outcome.refused else 429
        sealed = self.flows.seal(Flow(flow.request, flow.step, flow.user_id), browser, self.clock())
        offer = await self._key_offer(flow.user_id, sealed, flow.step)
        return page(
            "mfa.html", status, title="Second factor", flow=sealed, message=CODE_MESSAGES[result.outcome],
            **offer,
        )  # fmt: skip

    async def consent(self, request: Request) -> Response:
        form, chosen = await _form_with_scopes(request)
        flow, _ = self._flow(request, form, "consent")
        live = await self.signin.session(request.cookies.get(SESSION_COOKIE))
        if flow is None or live is None or live[1].user_id != flow.user_id:
            return _expired()
        session, user = live
        target = origin(flow.request.redirect_uri)
        if form.get("decision") != "allow":
            return see_other(self.authorization.denied(flow.request), target)
        try:
            location = await self.authorization.approve(
                flow.request, user, session, chosen, self.clock(), flow.patient
            )
        except RedirectedError as error:  # the EHR launch was used up meanwhile (another tab, another node)
            return see_other(error.location, target)
        except LaunchRefused as error:
            return _launch_refused(error)
        log.info(
            "consent_given",
            client_id=flow.request.client_id,
            user_id=user.user_id,
            approved=location is not None,
        )
        return see_other(location or self.authorization.denied(flow.request), target)

    async def patient(self, request: Request) -> Response:
        """The patient picker: ``q`` searches, ``patient`` chooses (checked upstream), then consent."""
        form = await _form(request)
        flow, browser = self._flow(request, form, "patient")
        live = await self.signin.session(request.cookies.get(SESSION_COOKIE))
        if flow is None or browser is None or live is None or live[1].user_id != flow.user_id:
            return _expired()
        if self.patients is None:
            return _expired()
        session, user = live
        aud, query, address = flow.request.aud, form.get("q", "")[:64], _address(request)
        try:
            if form.get("patient"):
                found = await self.patients.find(aud, form["patient"])
                if found is None:
                    return await self._patient_page(flow.request, user, browser, 400,
                                                    "That patient was not found. Search again.")  # fmt: skip
                self._audit("launch.patient_chosen", flow, user, address, (found,))
                chosen = found.patient_id
                return await self._consent_page(flow.request, user, browser, session, patient=chosen)
            results = await self.patients.search(aud, query)
        except UpstreamError:
            return await self._patient_page(flow.request, user, browser, 503, "The patient list is not "
                                            "available right now. Try again in a moment.", query)  # fmt: skip
        self._audit("launch.patient_search", flow, user, address, results)
        message = None if results else "No patient matches. Check the spelling, or search by identifier."
        return await self._patient_page(flow.request, user, browser, 200, message, query, results)

    async def _patient_page(
        self, checked: AuthorizationRequest, user: User, browser: str, status: int = 200,
        message: str | None = None, query: str = "", results: list[PatientChoice] | None = None,
    ) -> Response:  # fmt: skip
        sealed = self.flows.seal(Flow(checked, "patient", user.user_id), browser, self.clock())
        return page("patient.html", status, title="Choose a patient", flow=sealed, message=message,
                    user_name=user.display_name, app_name=await self._app_name(checked), query=query,
                    results=results or [])  # fmt: skip

    def _audit(
        self, action: str, flow: Flow, user: User, address: str, shown: Sequence[PatientChoice]
    ) -> None:
        """The picker's disclosures: whose names and birth dates the person was shown, through which app."""
        if self.signin.audit is not None:
            self.signin.audit(action, user=user.user_id, source_ip=address, client_id=flow.request.client_id,
                              resource_type="Patient", patients=tuple(c.patient_id for c in shown),
                              rules={"results": len(shown)})  # fmt: skip

    async def break_glass(self, request: Request) -> Response:
        """The consent page's emergency path: a stated reason, then a code for the emergency scopes."""
        form = await _form(request)
        flow, browser = self._flow(request, form, "consent")
        live = await self.signin.session(request.cookies.get(SESSION_COOKIE))
        if flow is None or browser is None or live is None or live[1].user_id != flow.user_id:
            return _expired()
        session, user = live
        if self.emergency is None or not self.emergency.available(user, session):
            return page("error.html", 403, title="Emergency access is not available",
                        message=EmergencyRefused.message)  # fmt: skip
        try:
            location = await self.emergency.grant(
                flow.request, user, session, form.get("reason", ""), self.clock(), flow.patient
            )
        except UserError as error:
            return await self._consent_page(
                flow.request, user, browser, session, 400, error.message, flow.patient
            )
        except RedirectedError as error:
            return see_other(error.location, origin(flow.request.redirect_uri))
        except LaunchRefused as error:
            return _launch_refused(error)
        except EmergencyRefused as error:
            return page("error.html", 403, title="Emergency access is not available", message=error.message)
        return see_other(location, origin(flow.request.redirect_uri))

    async def logout(self, request: Request) -> Response:
        """``GET`` asks to confirm (a link alone never signs anyone out); ``POST`` ends the session.

        Signing out ends this browser's session and revokes every refresh token
        family the person granted apps, with the access tokens they issued: on a
        shared workstation no app stays signed in. The session cookie is
        ``SameSite=Lax``, so a post from another site carries none (no CSRF).
        """
        if request.method == "GET":
            return page("logout.html", title="Sign out?")
        user_id = await self.signin.sign_out(request.cookies.get(SESSION_COOKIE))
        revoked = await self.revoke_user(user_id) if user_id is not None and self.revoke_user else 0
        if user_id is not None:
            log.info("logout", user_id=user_id, tokens_revoked=revoked)
        response = page("logout.html", title="You are signed out", done=True)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
        return response

    async def userinfo(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer" or not token:
                raise TokenError("userinfo.no_token")
            claims = self.tokens.verify(token.strip(), self.audiences, self.clock())
            if self.revocations.is_revoked(str(claims["jti"])):
                raise TokenError("token.revoked")
            return JSONResponse(userinfo(claims), headers={"cache-control": "no-store"})
        except TokenError:
            error: AuthenticationRequired | Forbidden = AuthenticationRequired(
                "The access token is not valid."
            )
            challenge = 'Bearer realm="phigate", error="invalid_token"'
        except Forbidden as refused:
            error, challenge = refused, dict(refused.headers)["www-authenticate"]
        return JSONResponse({"error": "invalid_token" if error.status == 401 else "insufficient_scope",
                             "error_description": error.message}, status_code=error.status,
                            headers={"www-authenticate": challenge, "cache-control": "no-store"})  # fmt: skip

    def _flow(self, request: Request, form: dict[str, str], *steps: str) -> tuple[Flow | None, str | None]:
        browser = request.cookies.get(BROWSER_COOKIE)
        try:
            return self.flows.open(form.get("flow"), browser, self.clock(), *steps), browser
        except TokenError as error:
            log.info("flow_refused", reason=error.reason if isinstance(error, FlowRefused) else "flow.token")
            return None, None

    def _signed_in(self, checked: AuthorizationRequest, session_id: str | None) -> Response:
        response = see_other("/oauth2/authorize?" + checked.query())
        assert session_id is not None
        set_cookie(response, SESSION_COOKIE, session_id, max_age=self.session_seconds, same_site="lax")
        return response

    async def _signin_page(
        self, checked: AuthorizationRequest, browser: str, status: int = 200, message: str | None = None,
        username: str = "",
    ) -> Response:  # fmt: skip
        sealed = self.flows.seal(Flow(checked, "signin"), browser, self.clock())
        name = await self._app_name(checked)
        return page("signin.html", status, title="Sign in", flow=sealed, app_name=name, message=message,
                    username=username)  # fmt: skip

    async def _consent_page(
        self, checked: AuthorizationRequest, user: User, browser: str, session: Session, status: int = 200,
        message: str | None = None, patient: str | None = None,
    ) -> Response:  # fmt: skip
        try:
            offered = await self.authorization.offer(checked, user, patient)
        except LaunchRefused as error:
            return _launch_refused(error)
        if self.patients is not None and self.authorization.needs_patient(checked, offered):
            return await self._patient_page(checked, user, browser)
        emergency = self.emergency is not None and self.emergency.available(user, session)
        minimum = self.emergency.policy.min_reason if self.emergency is not None else 0
        flow = Flow(checked, "consent", user.user_id, offered.patient)
        sealed = self.flows.seal(flow, browser, self.clock())
        name, scopes = await self._app_name(checked), described(offered.scopes)
        # The consent form's post ends in a redirect to the app: its origin must be a form-action.
        target = origin(checked.redirect_uri)
        return page("consent.html", status, form_origin=target, title="Allow access?", flow=sealed,
                    app_name=name, user_name=user.display_name, scopes=scopes, patient=offered.patient,
                    message=message, emergency=emergency, emergency_min=minimum)  # fmt: skip

    async def _enrol_page(self, user: User, sealed: str) -> Response:
        secret, codes = totp.new_secret(), totp.new_recovery_codes()
        await self.users.set_totp(user.user_id, secret, tuple(totp.recovery_hash(code) for code in codes))
        uri = totp.provisioning_uri(secret, user.username, self.totp_issuer)
        qr = segno.make(uri, error="m").svg_data_uri(scale=4)
        return page("enrol.html", title="Set up your second factor", flow=sealed, qr=qr, secret=secret,
                    recovery_codes=codes, **await self._key_offer(user.user_id, sealed, "enrol"))  # fmt: skip

    async def _key_offer(self, user_id: str, sealed: str, step: str) -> dict[str, Any]:
        """The security-key part of a second-factor or enrolment page (nothing without WebAuthn)."""
        return await self.keys.offer(user_id, sealed, step) if self.keys is not None else {}

    async def _app_name(self, checked: AuthorizationRequest) -> str:
        client = await self.authorization.app(checked.client_id)
        return client.name if client is not None else checked.client_id


async def _stylesheet(_: Request) -> Response:
    return Response(STYLESHEET, media_type="text/css", headers={"cache-control": "public, max-age=3600"})


def _launch_refused(error: LaunchRefused) -> Response:
    return page("error.html", 403, title="This launch cannot be completed", message=error.message)


def _expired() -> Response:
    message = "This page has expired or was opened in another browser. Start again from the app."
    return page("error.html", 400, title="Please start again", message=message)


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else ""


async def _body(request: Request) -> str:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        return ""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return ""
    return body.decode("utf-8", "replace")


async def _form(request: Request) -> dict[str, str]:
    form, _ = await _form_with_scopes(request)
    return form


async def _form_with_scopes(request: Request) -> tuple[dict[str, str], list[str]]:
    """The form's single values (first wins) and every ``scope`` ticked on the consent page."""
    pairs = parse_qsl(await _body(request), keep_blank_values=True, max_num_fields=200)
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form, [value for name, value in pairs if name == "scope"]
