"""Security keys on the sign-in pages (WebAuthn): the offer on a page, and the two posts that complete it.

The second-factor page offers the user's keys (``navigator.credentials.get``)
and the enrolment page a new one (``navigator.credentials.create``). The
ceremony's options ride on the form as a data attribute; ``webauthn.js``, a
static file of this origin (the pages allow no inline script and no eval),
runs the browser's prompt and posts the answer, base64url-encoded, with the
page's flow token to ``POST /oauth2/webauthn/authenticate`` or ``POST
/oauth2/webauthn/register``. A key refused, for whatever reason, reads the
same as a wrong code, and counts the same towards throttling and lockout.
Without JavaScript the key form stays hidden and the code form works.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from phigate.asgi.pages.rendering import BROWSER_COOKIE, SESSION_COOKIE, page, see_other, set_cookie
from phigate.asgi.pages.routes import MESSAGES, _address, _expired, _form
from phigate.oauth.flow import Flow, FlowRefused, FlowSeal
from phigate.oauth.jose import TokenError
from phigate.oauth.mfa.webauthn import GET, Ceremony, KeyResponse, RelyingParty, SecurityKeys
from phigate.oauth.rfc9068 import TokenKeys
from phigate.oauth.signin import Outcome, Result, SignIn
from phigate.people.errors import UserError
from phigate.people.security_keys import key_name
from phigate.people.store import UserStore
from phigate.ports import ReplayCache
from phigate.settings.people import WebAuthnSettings

log = structlog.get_logger("phigate.pages")
SCRIPT = (Path(__file__).parent / "static" / "webauthn.js").read_bytes()
KEY_MESSAGES = {**MESSAGES, Outcome.refused: "That security key was not accepted. Try again, or use a code."}


@dataclass
class SecurityKeyPages:
    signin: SignIn
    keys: SecurityKeys
    users: UserStore
    flows: FlowSeal
    session_seconds: int = 43200
    clock: Callable[[], float] = field(default=time.time)

    def routes(self) -> list[Route]:
        return [
            Route("/oauth2/webauthn/authenticate", self.authenticate, methods=["POST"]),
            Route("/oauth2/webauthn/register", self.register, methods=["POST"]),
            Route("/oauth2/static/webauthn.js", _script, methods=["GET"]),
        ]

    async def offer(self, user_id: str, flow: str, step: str) -> dict[str, Any]:
        """Template values for a second-factor (``mfa``) or enrolment (``enrol``) page of this flow.

        ``security_key``: the ceremony (none when the user has no key to sign in
        with); ``key_only``: the user has keys but no authenticator app, so the
        code field takes recovery codes only; ``scripts``: the page's CSP lets
        ``webauthn.js`` run.
        """
        user = await self.users.get(user_id)
        if user is None:
            return {}
        now = self.clock()
        ceremony: Ceremony | None
        if step == "enrol":
            ceremony = await self.keys.registration(user, flow, now)
        else:
            ceremony = await self.keys.authentication(user_id, flow, now)
        key_only = ceremony is not None and ceremony.purpose == GET and not user.totp_enrolled
        return {"security_key": ceremony, "key_only": key_only, "scripts": ceremony is not None}

    async def authenticate(self, request: Request) -> Response:
        form = await _form(request)
        flow, browser = self._flow(request, form, "mfa")
        if flow is None or browser is None or flow.user_id is None:
            return _expired()
        answer = KeyResponse(form.get("flow", ""), form.get("ceremony", ""), form.get("credential", ""))
        result = await self.signin.security_key(flow.user_id, answer, _address(request))
        return await self._after(flow, browser, result)

    async def register(self, request: Request) -> Response:
        form = await _form(request)
        flow, browser = self._flow(request, form, "enrol")
        if flow is None or browser is None or flow.user_id is None:
            return _expired()
        try:
            name = key_name(form.get("name", ""))
        except UserError as error:
            return await self._again(flow, browser, 400, error.message)
        answer = KeyResponse(form.get("flow", ""), form.get("ceremony", ""), form.get("credential", ""))
        result = await self.signin.enrol_security_key(flow.user_id, answer, name, _address(request))
        return await self._after(flow, browser, result)

    async def _after(self, flow: Flow, browser: str, result: Result) -> Response:
        if result.outcome is Outcome.signed_in and result.session_id is not None:
            response = see_other("/oauth2/authorize?" + flow.request.query())
            set_cookie(response, SESSION_COOKIE, result.session_id, max_age=self.session_seconds,
                       same_site="lax")  # fmt: skip
            return response
        status = 401 if result.outcome is Outcome.refused else 429
        return await self._again(flow, browser, status, KEY_MESSAGES[result.outcome])

    async def _again(self, flow: Flow, browser: str, status: int, message: str) -> Response:
        """The second-factor page once more, with a fresh flow token and ceremony."""
        assert flow.user_id is not None
        sealed = self.flows.seal(Flow(flow.request, flow.step, flow.user_id), browser, self.clock())
        offer = await self.offer(flow.user_id, sealed, flow.step)
        return page("mfa.html", status, title="Second factor", flow=sealed, message=message, **offer)

    def _flow(self, request: Request, form: dict[str, str], step: str) -> tuple[Flow | None, str | None]:
        browser = request.cookies.get(BROWSER_COOKIE)
        try:
            return self.flows.open(form.get("flow"), browser, self.clock(), step), browser
        except TokenError as error:
            log.info("flow_refused", reason=error.reason if isinstance(error, FlowRefused) else "flow.token")
            return None, None


def security_keys(
    settings: WebAuthnSettings, issuer: str, signing_keys: TokenKeys, users: UserStore, replay: ReplayCache
) -> SecurityKeys | None:
    """The node's WebAuthn relying party, or ``None`` when it is turned off or the issuer cannot be one."""
    if not settings.enabled:
        return None
    party = RelyingParty.for_issuer(issuer, settings.rp_name)
    if party is None:
        log.info("webauthn_not_offered", reason="the issuer is not https on a domain name (RP ID)")
        return None
    return SecurityKeys(party, signing_keys, users, replay, settings.ceremony_seconds)


async def _script(_: Request) -> Response:
    return Response(SCRIPT, media_type="text/javascript", headers={"cache-control": "public, max-age=3600"})
