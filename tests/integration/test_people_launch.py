"""SMART standalone launch for people, end to end, with a client we did not write; then the attacks.

A running gateway (TLS) in front of the demo EHR. Authlib's OAuth 2 client does
the authorization code flow with PKCE S256 and a refresh; the test plays the
person, submitting the sign-in, second-factor and consent forms with httpx.
Then the app reads FHIR data within what was granted, and no further.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError as AuthlibOAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from fixtures.gateway_stack import Stack, running_stack
from fixtures.postgres import throwaway_database
from fixtures.signin_pages import claims, hidden
from phigate.adapters.sql.people import SqlUsers
from phigate.cli.users import add_user, register_app
from phigate.cli.vendor_registry import register_vendor
from phigate.oauth.mfa import totp
from phigate.people.roles import Role
from phigate.people.users import UserStatus
from phigate.types import VendorId

APP = "pillbox-app"
REDIRECT = "https://pillbox.example/callback"
PASSWORD = "correct horse battery staple"


@dataclass
class People:
    stack: Stack
    totp_secret: str
    recovery_codes: tuple[str, ...]

    @property
    def fhir(self) -> str:
        return self.stack.public + "/fhir"

    @property
    def authorize(self) -> str:
        return self.stack.public + "/oauth2/authorize"

    @property
    def token(self) -> str:
        return self.stack.public + "/oauth2/token"

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.stack.pki.ca_cert)

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(verify=self.tls(), timeout=15, follow_redirects=False)

    def app(self, scope: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=APP, scope=scope, redirect_uri=REDIRECT, code_challenge_method="S256",
            token_endpoint_auth_method="none", verify=self.tls(), timeout=15,
        )  # fmt: skip


async def setup_people(stack: Stack) -> People:
    db = stack.node.services.db
    await register_vendor(db, "Pillbox Inc", "pillbox")
    scopes = "openid fhirUser launch/patient offline_access patient/*.rs user/*.rs"
    await register_app(db, VendorId("pillbox"), "Pillbox", scopes, (REDIRECT,), APP)
    users = SqlUsers(db, stack.node.services.keyring)
    await add_user(
        users, "canary", Role.patient, "Canary Testpatient", PASSWORD, fhir_user="Patient/pat-canary"
    )
    _, enrolment = await add_user(
        users, "dr.grey", Role.clinician, "Dr Grey", PASSWORD, fhir_user="Practitioner/prac-1", with_totp=True
    )
    assert enrolment is not None
    return People(stack, enrolment.secret, enrolment.recovery_codes)


@pytest.fixture
async def people(tmp_path: Path) -> AsyncIterator[People]:
    async with running_stack(tmp_path, patients=30) as stack:
        yield await setup_people(stack)


async def post_form(browser: httpx.AsyncClient, url: str, pairs: list[tuple[str, str]]) -> httpx.Response:
    """A form with repeated fields (the consent page's ticked scopes), as a browser sends it."""
    headers = {"content-type": "application/x-www-form-urlencoded"}
    return await browser.post(url, content=urlencode(pairs), headers=headers)


def scopes_offered(page: str) -> list[str]:
    return re.findall(r'name="scope" value="([^"]*)"', page)


async def sign_in(
    people: People, browser: httpx.AsyncClient, url: str, username: str, *, code: str | None = None,
    keep: set[str] | None = None,
) -> str:  # fmt: skip
    """Play the person from the authorization URL to the app's redirect; the redirect's Location."""
    page = await browser.get(url)
    assert page.status_code == 200, page.text
    reply = await browser.post(
        people.stack.public + "/oauth2/signin",
        data={"flow": hidden(page.text), "username": username, "password": PASSWORD},
    )
    if code is not None:
        assert reply.status_code == 200 and 'name="code"' in reply.text
        reply = await browser.post(
            people.stack.public + "/oauth2/mfa", data={"flow": hidden(reply.text), "code": code}
        )
    assert reply.status_code == 303, reply.text
    consent = await browser.get(people.stack.public + reply.headers["location"])
    assert consent.status_code == 200 and "Allow access?" in consent.text
    offered = scopes_offered(consent.text)
    chosen = [s for s in offered if keep is None or s in keep]
    form = [("flow", hidden(consent.text)), ("decision", "allow"), *(("scope", s) for s in chosen)]
    done = await post_form(browser, people.stack.public + "/oauth2/consent", form)
    assert done.status_code == 303, done.text
    location: str = done.headers["location"]
    return location


async def launch(
    people: People, username: str, scope: str, *, code: str | None = None, keep: set[str] | None = None
) -> tuple[AsyncOAuth2Client, dict[str, Any]]:
    app = people.app(scope)
    verifier = generate_token(48)
    url, state = app.create_authorization_url(people.authorize, code_verifier=verifier, aud=people.fhir)
    async with people.browser() as browser:
        location = await sign_in(people, browser, url, username, code=code, keep=keep)
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state] and query["iss"] == [people.stack.node.endpoints.issuer]
    token = await app.fetch_token(people.token, authorization_response=location, code_verifier=verifier)
    return app, dict(token)


async def test_patient_launch_with_authlib_reads_own_record_then_refreshes(people: People) -> None:
    scope = "openid fhirUser launch/patient offline_access patient/*.rs"
    app, token = await launch(people, "canary", scope)
    assert token["patient"] == "pat-canary"
    assert set(token["scope"].split()) == set(scope.split())
    access = claims(token["access_token"])
    assert access["patient"] == "pat-canary" and access["sub"] != APP and access["client_id"] == APP
    assert access["fhirUser"] == people.fhir + "/Patient/pat-canary"
    assert access["amr"] == ["pwd"] and access["acr"] == "urn:phigate:aal1"  # patients: password by default
    identity = claims(token["id_token"])
    assert identity["aud"] == APP and identity["fhirUser"] == people.fhir + "/Patient/pat-canary"
    own = await app.get(people.fhir + "/Patient/pat-canary")
    assert own.status_code == 200 and own.json()["id"] == "pat-canary"
    observations = await app.get(people.fhir + "/Observation", params={"patient": "pat-canary"})
    assert observations.status_code == 200 and observations.json().get("entry")
    other = await app.get(people.fhir + "/Patient/pat-0002")
    assert other.status_code in (403, 404)  # a patient token never reaches another patient's record
    info = await app.get(people.stack.public + "/oauth2/userinfo")
    assert info.json() == {"sub": access["sub"], "fhirUser": access["fhirUser"]}
    refreshed = await app.refresh_token(people.token, refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    again = await app.get(people.fhir + "/Patient/pat-canary")
    assert again.status_code == 200
    await app.aclose()


async def test_clinician_needs_totp_and_gets_aal2_user_scopes(people: People) -> None:
    code = totp.code_at(people.totp_secret, time.time())
    app, token = await launch(people, "dr.grey", "openid fhirUser user/*.rs", code=code)
    access = claims(token["access_token"])
    assert access["amr"] == ["pwd", "otp", "mfa"] and access["acr"] == "urn:phigate:aal2"
    assert "patient" not in token and access["fhirUser"].endswith("/Practitioner/prac-1")
    assert token["scope"] == "fhirUser openid user/*.rs"
    bundle = await app.get(people.fhir + "/Patient", params={"_count": "2"})
    assert bundle.status_code == 200 and bundle.json()["resourceType"] == "Bundle"
    await app.aclose()


# -- attacks ------------------------------------------------------------------------------------------
# PKCE missing, plain or wrong; code replay (the first tokens die); redirect URI variants (no redirect
# happens); implicit and password grants; refresh token reuse (the family dies); a scope the person did
# not approve; 101 wrong passwords and 101 wrong TOTP codes; TOTP reuse; equal answers for existing and
# unknown users; a disabled user's refresh.

PATIENT_SCOPE = "openid fhirUser launch/patient offline_access patient/*.rs"


def authorize_url(people: People, **changes: str | None) -> str:
    params: dict[str, str | None] = {
        "response_type": "code", "client_id": APP, "redirect_uri": REDIRECT, "scope": PATIENT_SCOPE,
        "state": generate_token(24), "aud": people.fhir, "code_challenge_method": "S256",
        "code_challenge": create_s256_code_challenge(generate_token(48)),
    }  # fmt: skip
    params.update(changes)
    return people.authorize + "?" + urlencode({k: v for k, v in params.items() if v is not None})


async def token_form(people: People, form: dict[str, str]) -> httpx.Response:
    async with people.browser() as client:
        return await client.post(people.token, data=form)


async def code_for(people: People, verifier: str, username: str = "canary", **changes: str) -> str:
    url = authorize_url(people, code_challenge=create_s256_code_challenge(verifier), **changes)
    async with people.browser() as browser:
        location = await sign_in(people, browser, url, username)
    return parse_qs(urlsplit(location).query)["code"][0]


def redeem(code: str, verifier: str | None) -> dict[str, str]:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": APP}
    return form | ({"code_verifier": verifier} if verifier is not None else {})


async def fhir(people: People, path: str, token: str) -> int:
    async with people.browser() as client:
        return (
            await client.get(people.fhir + path, headers={"authorization": f"Bearer {token}"})
        ).status_code


# -- the authorization request -------------------------------------------------------------------------


VARIANTS = (
    REDIRECT + "/", "https://pillbox.example/Callback", REDIRECT + "?x=1", REDIRECT + "#frag",
    "https://pillbox.example%2Fcallback", "https://pillbox.example@evil.example/callback",
    "https://evil.pillbox.example/callback", "http://pillbox.example/callback",
    "https://pillbox.example:8443/callback", "https://pillbox.example/..;/callback", "",
)  # fmt: skip


async def test_redirect_uri_variants_are_refused_without_redirect(people: People) -> None:
    async with people.browser() as browser:
        for variant in VARIANTS:
            reply = await browser.get(authorize_url(people, redirect_uri=variant or None))
            assert reply.status_code == 400 and "location" not in reply.headers, variant
            assert "redirect_uri" in reply.text
            assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]


async def test_unknown_client_gets_no_redirect(people: People) -> None:
    async with people.browser() as browser:
        reply = await browser.get(authorize_url(people, client_id="no-such-app"))
    assert reply.status_code == 400 and "location" not in reply.headers


BAD_REQUESTS: tuple[tuple[dict[str, str | None], str], ...] = (
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": "id_token token"}, "unsupported_response_type"),
    ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": "plain", "code_challenge": "a" * 43}, "invalid_request"),
    ({"state": None}, "invalid_request"),
    ({"aud": "https://evil.example/fhir"}, "invalid_request"),
    ({"scope": "patient/Nothing.rs"}, "invalid_scope"),
)


async def test_bad_requests_return_an_error_to_the_registered_redirect(people: People) -> None:
    async with people.browser() as browser:
        for changes, error in BAD_REQUESTS:
            reply = await browser.get(authorize_url(people, **changes))
            assert reply.status_code == 303, changes
            location = reply.headers["location"]
            assert location.startswith(REDIRECT + "?")
            query = parse_qs(urlsplit(location).query)
            assert query["error"] == [error] and query["iss"] == [people.stack.node.endpoints.issuer]
            assert "code" not in query


async def test_authorize_endpoint_sends_no_cors_and_forbids_framing(people: People) -> None:
    async with people.browser() as browser:
        reply = await browser.get(authorize_url(people), headers={"origin": "https://evil.example"})
    assert reply.status_code == 200
    assert "access-control-allow-origin" not in reply.headers
    assert reply.headers["x-frame-options"] == "DENY" and reply.headers["cache-control"] == "no-store"
    assert (
        "script-src" not in reply.headers["content-security-policy"]
    )  # default-src 'none': no script at all


# -- the token endpoint --------------------------------------------------------------------------------


async def test_wrong_or_missing_verifier_is_invalid_grant(people: People) -> None:
    verifier = generate_token(48)
    for bad in (generate_token(48), None):
        code = await code_for(people, verifier)
        reply = await token_form(people, redeem(code, bad))
        assert reply.status_code == 400 and reply.json()["error"] == "invalid_grant"


async def test_code_replay_fails_and_revokes_the_first_tokens(people: People) -> None:
    verifier = generate_token(48)
    code = await code_for(people, verifier)
    first = await token_form(people, redeem(code, verifier))
    assert first.status_code == 200
    tokens = first.json()
    assert await fhir(people, "/Patient/pat-canary", tokens["access_token"]) == 200
    replay = await token_form(people, redeem(code, verifier))
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert await fhir(people, "/Patient/pat-canary", tokens["access_token"]) == 401
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": APP}
    assert (await token_form(people, refresh)).json()["error"] == "invalid_grant"


async def test_code_is_bound_to_its_client_and_redirect_uri(people: People) -> None:
    verifier = generate_token(48)
    code = await code_for(people, verifier)
    wrong_uri = redeem(code, verifier) | {"redirect_uri": REDIRECT + "/"}
    assert (await token_form(people, wrong_uri)).json()["error"] == "invalid_grant"
    unknown_client = redeem(await code_for(people, verifier), verifier) | {"client_id": "someone-else"}
    assert (await token_form(people, unknown_client)).json()["error"] == "invalid_client"


async def test_password_and_implicit_grants_are_unsupported(people: People) -> None:
    form = {"grant_type": "password", "username": "canary", "password": PASSWORD, "client_id": APP}
    reply = await token_form(people, form)
    assert reply.status_code == 400 and reply.json()["error"] == "unsupported_grant_type"
    implicit = await token_form(people, {"grant_type": "implicit", "client_id": APP})
    assert implicit.json()["error"] == "unsupported_grant_type"


async def test_refresh_token_reuse_revokes_the_family(people: People) -> None:
    app, token = await launch(people, "canary", PATIENT_SCOPE)
    second = await app.refresh_token(people.token, refresh_token=token["refresh_token"])
    assert await fhir(people, "/Patient/pat-canary", second["access_token"]) == 200
    reuse = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": APP}
    assert (await token_form(people, reuse)).json()["error"] == "invalid_grant"
    newest = {"grant_type": "refresh_token", "refresh_token": second["refresh_token"], "client_id": APP}
    assert (await token_form(people, newest)).json()["error"] == "invalid_grant"  # the family is dead
    assert await fhir(people, "/Patient/pat-canary", second["access_token"]) == 401
    await app.aclose()


async def test_refresh_may_narrow_but_never_widen(people: People) -> None:
    app, token = await launch(people, "canary", "launch/patient offline_access patient/Observation.rs")
    wider = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": APP,
             "scope": "patient/*.rs offline_access"}  # fmt: skip
    assert (await token_form(people, wider)).json()["error"] == "invalid_scope"
    await app.aclose()


async def test_patient_token_cannot_search_another_patients_data(people: People) -> None:
    app, token = await launch(people, "canary", PATIENT_SCOPE)
    assert await fhir(people, "/Observation?patient=pat-0002", token["access_token"]) == 403
    assert await fhir(people, "/Observation?patient=pat-canary", token["access_token"]) == 200
    await app.aclose()


async def test_a_scope_the_person_unticked_is_not_granted(people: People) -> None:
    keep = {"launch/patient", "patient/*.rs"}
    scope = "launch/patient patient/*.rs openid fhirUser"
    app = people.app(scope)
    verifier = generate_token(48)
    url, _ = app.create_authorization_url(people.authorize, code_verifier=verifier, aud=people.fhir)
    async with people.browser() as browser:
        location = await sign_in(people, browser, url, "canary", keep={"launch/patient"})
    narrowed = await app.fetch_token(people.token, authorization_response=location, code_verifier=verifier)
    assert narrowed["scope"] == "launch/patient" and "id_token" not in narrowed
    assert await fhir(people, "/Patient/pat-canary", narrowed["access_token"]) == 403
    assert keep  # the person approved only the launch context, not the data
    await app.aclose()


async def test_token_errors_are_oauth_errors_to_authlib(people: People) -> None:
    app = people.app(PATIENT_SCOPE)
    with pytest.raises(AuthlibOAuthError):
        await app.fetch_token(people.token, grant_type="authorization_code", code="made-up",
                              redirect_uri=REDIRECT, code_verifier=generate_token(48))  # fmt: skip
    await app.aclose()


# -- sign-in attacks -----------------------------------------------------------------------------------


async def post_password(
    people: People, browser: httpx.AsyncClient, flow: str, username: str, password: str
) -> httpx.Response:
    return await browser.post(people.stack.public + "/oauth2/signin",
                              data={"flow": flow, "username": username, "password": password})  # fmt: skip


async def test_101_wrong_passwords_throttle_then_lock_the_account(people: People) -> None:
    async with people.browser() as browser:
        flow = hidden((await browser.get(authorize_url(people))).text)
        statuses = [
            (await post_password(people, browser, flow, "canary", f"wrong-{i}")).status_code
            for i in range(101)
        ]
        assert statuses[0] == 401 and statuses[-1] == 429
        assert statuses.count(401) <= 5  # back-off after 5 failures: the rest are refused unchecked
        right = await post_password(people, browser, flow, "canary", PASSWORD)
    assert right.status_code == 429 and "locked" in right.text  # even the right password, once locked
    user = await SqlUsers(people.stack.node.services.db, people.stack.node.services.keyring).by_username(
        "canary"
    )
    assert user is not None and user.locked


async def test_101_wrong_totp_codes_lock_the_account(people: People) -> None:
    async with people.browser() as browser:
        flow = hidden((await browser.get(authorize_url(people))).text)
        mfa = await post_password(people, browser, flow, "dr.grey", PASSWORD)
        assert mfa.status_code == 200 and 'name="code"' in mfa.text
        step_flow = hidden(mfa.text)
        right = totp.code_at(people.totp_secret, time.time())
        wrong = next(c for c in ("000000", "111111", "222222") if c != right)
        statuses = []
        for _ in range(101):
            reply = await browser.post(
                people.stack.public + "/oauth2/mfa", data={"flow": step_flow, "code": wrong}
            )
            statuses.append(reply.status_code)
        assert statuses[0] == 401 and statuses[-1] == 429
        last = await browser.post(
            people.stack.public + "/oauth2/mfa", data={"flow": step_flow, "code": right}
        )
    assert last.status_code == 429 and "locked" in last.text


async def test_a_totp_code_works_once(people: People) -> None:
    code = totp.code_at(people.totp_secret, time.time())
    app, _ = await launch(people, "dr.grey", "openid user/*.rs", code=code)
    await app.aclose()
    async with people.browser() as browser:
        flow = hidden((await browser.get(authorize_url(people, scope="openid user/*.rs"))).text)
        mfa = await post_password(people, browser, flow, "dr.grey", PASSWORD)
        again = await browser.post(
            people.stack.public + "/oauth2/mfa", data={"flow": hidden(mfa.text), "code": code}
        )
    assert again.status_code == 401 and "already used" in again.text


async def test_a_recovery_code_works_once(people: People) -> None:
    recovery = people.recovery_codes[0]
    app, token = await launch(people, "dr.grey", "openid user/*.rs", code=recovery)
    assert claims(token["access_token"])["acr"] == "urn:phigate:aal2"
    await app.aclose()
    async with people.browser() as browser:
        flow = hidden((await browser.get(authorize_url(people, scope="openid user/*.rs"))).text)
        mfa = await post_password(people, browser, flow, "dr.grey", PASSWORD)
        again = await browser.post(
            people.stack.public + "/oauth2/mfa", data={"flow": hidden(mfa.text), "code": recovery}
        )
    assert again.status_code == 401


async def test_existing_and_unknown_users_get_equal_answers(people: People) -> None:
    async with people.browser() as browser:
        flow = hidden((await browser.get(authorize_url(people))).text)
        known = await post_password(people, browser, flow, "canary", "not-the-password")
        unknown = await post_password(people, browser, flow, "nobody-here", "not-the-password")
    assert known.status_code == unknown.status_code == 401

    def without_flow(page: str) -> str:
        return (
            re.sub(r'name="(flow|username)" value="[^"]*"', "", page)
            .replace("canary", "")
            .replace("nobody-here", "")
        )

    assert without_flow(known.text) == without_flow(unknown.text)


async def test_a_flow_from_another_browser_is_refused(people: People) -> None:
    async with people.browser() as first:
        flow = hidden((await first.get(authorize_url(people))).text)
    async with people.browser() as second:  # no binding cookie: a cross-site post looks like this
        reply = await post_password(people, second, flow, "canary", PASSWORD)
    assert reply.status_code == 400 and "__Host-phigate-session" not in reply.headers.get("set-cookie", "")


async def test_a_disabled_user_loses_session_and_refresh(people: People) -> None:
    app, token = await launch(people, "canary", PATIENT_SCOPE)
    users = SqlUsers(people.stack.node.services.db, people.stack.node.services.keyring)
    user = await users.by_username("canary")
    assert user is not None
    await users.set_status(user.user_id, UserStatus.disabled)
    refresh = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": APP}
    assert (await token_form(people, refresh)).json()["error"] == "invalid_grant"
    await app.aclose()


async def test_logout_ends_the_session_and_revokes_the_refresh_family(people: People) -> None:
    app = people.app(PATIENT_SCOPE)
    verifier = generate_token(48)
    url, _ = app.create_authorization_url(people.authorize, code_verifier=verifier, aud=people.fhir)
    async with people.browser() as browser:
        location = await sign_in(people, browser, url, "canary")
        token = await app.fetch_token(people.token, authorization_response=location, code_verifier=verifier)
        again, _ = app.create_authorization_url(people.authorize, code_verifier=verifier, aud=people.fhir)
        assert "Allow access?" in (await browser.get(again)).text  # single sign-on while the session lives
        confirm = await browser.get(people.stack.public + "/oauth2/logout")
        assert (
            confirm.status_code == 200 and 'action="/oauth2/logout"' in confirm.text
        )  # GET alone: no sign-out
        assert "Allow access?" in (await browser.get(again)).text
        out = await browser.post(people.stack.public + "/oauth2/logout")
        assert out.status_code == 200 and "signed out" in out.text
        assert (
            "__Host-phigate-session=" in out.headers["set-cookie"]
            and "Max-Age=0" in out.headers["set-cookie"]
        )
        browser.cookies.clear()
        page = await browser.get(again)
        assert "Allow access?" not in page.text and 'name="password"' in page.text
    refresh = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": APP}
    assert (await token_form(people, refresh)).json()["error"] == "invalid_grant"
    assert await fhir(people, "/Patient/pat-canary", token["access_token"]) == 401  # its access token too
    await app.aclose()


async def test_a_session_cookie_kept_after_logout_is_dead(people: People) -> None:
    app = people.app(PATIENT_SCOPE)
    url, _ = app.create_authorization_url(people.authorize, code_verifier=generate_token(48), aud=people.fhir)
    async with people.browser() as browser:
        await sign_in(people, browser, url, "canary")
        kept = dict(browser.cookies)
        await browser.post(people.stack.public + "/oauth2/logout")
        browser.cookies.clear()
        for name, value in kept.items():
            browser.cookies.set(name, value)  # a stolen or cached cookie, replayed
        page = await browser.get(url)
    assert "Allow access?" not in page.text and 'name="password"' in page.text
    await app.aclose()


@pytest.mark.postgres
async def test_launch_code_replay_and_refresh_rotation_on_postgresql(tmp_path: Path) -> None:
    """The single-use updates (codes, refresh tokens, TOTP steps) hold on PostgreSQL as on SQLite."""
    async with (
        throwaway_database() as url,
        running_stack(tmp_path, patients=10, storage={"url": url}) as stack,
    ):
        people = await setup_people(stack)
        code = totp.code_at(people.totp_secret, time.time())
        app, token = await launch(people, "dr.grey", "openid offline_access user/*.rs", code=code)
        second = await app.refresh_token(people.token, refresh_token=token["refresh_token"])
        reuse = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": APP}
        assert (await token_form(people, reuse)).json()["error"] == "invalid_grant"
        assert await fhir(people, "/Patient?_count=1", second["access_token"]) == 401
        await app.aclose()
        async with people.browser() as browser:
            flow = hidden((await browser.get(authorize_url(people, scope="openid user/*.rs"))).text)
            mfa = await post_password(people, browser, flow, "dr.grey", PASSWORD)
            again = await browser.post(
                stack.public + "/oauth2/mfa", data={"flow": hidden(mfa.text), "code": code}
            )
        assert again.status_code == 401  # the TOTP code was used once already


async def test_the_audit_trail_names_the_person_an_app_acted_for(people: People) -> None:
    from phigate.adapters.sql.audit import AuditQuery

    app, token = await launch(people, "canary", PATIENT_SCOPE)
    assert await fhir(people, "/Patient/pat-canary", token["access_token"]) == 200
    await app.aclose()
    evidence = people.stack.node.evidence
    assert evidence is not None
    for _ in range(60):  # the spool drains to the store every half second
        reads = [
            e.event
            for e in await evidence.store.search(AuditQuery(kind="exchange", patient="pat-canary"))
            if e.event.get("status") == 200
        ]
        if reads:
            break
        await asyncio.sleep(0.1)
    assert reads and reads[0]["user"].endswith("/fhir/Patient/pat-canary")  # fhirUser, an absolute URL
    assert reads[0]["client_id"] == APP


async def test_sign_ins_and_failures_are_in_the_audit_trail(people: People) -> None:
    from phigate.adapters.sql.audit import AuditQuery

    async with people.browser() as browser:
        url = authorize_url(people, code_challenge=create_s256_code_challenge("v" * 50))
        page = await browser.get(url)
        wrong = [("flow", hidden(page.text)), ("username", "canary"), ("password", "wrong-password-9")]
        await post_form(browser, people.stack.public + "/oauth2/signin", wrong)
    app, _ = await launch(people, "canary", PATIENT_SCOPE)
    await app.aclose()
    evidence = people.stack.node.evidence
    assert evidence is not None
    actions: list[str] = []
    for _ in range(60):
        events = [e.event for e in await evidence.store.search(AuditQuery(kind="security"))]
        actions = [str(e["action"]) for e in events if str(e["action"]).startswith("signin.")]
        if {"signin.failed", "signin.succeeded"} <= set(actions):
            break
        await asyncio.sleep(0.1)
    assert {"signin.failed", "signin.succeeded"} <= set(actions)
    stored = str(events)
    assert "wrong-password-9" not in stored and PASSWORD not in stored
