"""Security keys (WebAuthn) as the second factor, end to end over HTTPS; then the attacks on them.

A running gateway whose issuer is ``https://localhost:PORT`` (the RP ID must be a
domain name). The test plays the person and the browser: it submits the real
sign-in forms with httpx and answers each WebAuthn ceremony with a software
authenticator (ES256, real CBOR and signatures, attestation "none"). A
clinician enrols a key, then signs in with it; the app's tokens carry ``hwk``.
Then: another origin, another RP ID, replays, another person's key, a counter
that went back, and a clinician trying to skip the second factor, each refused.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client

from fixtures.gateway_stack import Stack, running_stack
from fixtures.signin_pages import claims, hidden
from fixtures.webauthn_authenticator import SoftwareAuthenticator, localhost_issuer
from phigate.adapters.sql.people import SqlUsers
from phigate.cli.users import add_user, register_app
from phigate.cli.vendor_registry import register_vendor
from phigate.people.roles import Role
from phigate.types import VendorId

APP = "key-chart"
REDIRECT = "https://key-chart.example/callback"
PASSWORD = "a passphrase for the key tests"
SCOPE = "openid fhirUser user/*.rs"
REFUSED = "That security key was not accepted."


@dataclass
class Gateway:
    stack: Stack
    users: SqlUsers

    @property
    def issuer(self) -> str:
        return self.stack.node.endpoints.issuer  # https://localhost:PORT: the relying party

    def url(self, path: str) -> str:
        return self.stack.public + path  # the same listener, reached at 127.0.0.1

    def browser(self) -> httpx.AsyncClient:
        tls = ssl.create_default_context(cafile=self.stack.pki.ca_cert)
        return httpx.AsyncClient(verify=tls, timeout=15, follow_redirects=False)

    def app(self) -> AsyncOAuth2Client:
        tls = ssl.create_default_context(cafile=self.stack.pki.ca_cert)
        return AsyncOAuth2Client(client_id=APP, scope=SCOPE, redirect_uri=REDIRECT, verify=tls, timeout=15,
                                 code_challenge_method="S256", token_endpoint_auth_method="none")  # fmt: skip


@asynccontextmanager
async def open_gateway(directory: Path, **extra: Any) -> AsyncIterator[Gateway]:
    async with running_stack(directory, patients=20, **localhost_issuer(directory), **extra) as stack:
        db = stack.node.services.db
        await register_vendor(db, "Key Chart Ltd", "key-chart")
        await register_app(db, VendorId("key-chart"), "Key Chart", SCOPE, (REDIRECT,), APP)
        users = SqlUsers(db, stack.node.services.keyring)
        for username, practitioner in (("dr.key", "prac-1"), ("dr.other", "prac-2"), ("dr.nokey", "prac-3")):
            await add_user(users, username, Role.clinician, username, PASSWORD,
                           fhir_user=f"Practitioner/{practitioner}")  # fmt: skip
        yield Gateway(stack, users)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with open_gateway(tmp_path) as running:
        yield running


def offered(page: str, purpose: str) -> dict[str, Any]:
    """The ceremony options the page hands to webauthn.js (a data attribute, HTML-escaped JSON)."""
    match = re.search(rf'data-webauthn="{purpose}" data-options="([^"]*)"', page)
    assert match is not None, page[:600]
    options: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return options


@dataclass
class Launch:
    """One authorization request of the app: its URL and the PKCE verifier the app keeps."""

    app: AsyncOAuth2Client
    verifier: str
    url: str


def launch(gateway: Gateway) -> Launch:
    app, verifier = gateway.app(), generate_token(48)
    url, _ = app.create_authorization_url(gateway.url("/oauth2/authorize"), code_verifier=verifier,
                                          aud=gateway.issuer + "/fhir")  # fmt: skip
    return Launch(app, verifier, url)


async def password(
    gateway: Gateway, browser: httpx.AsyncClient, username: str, at: Launch | None = None
) -> httpx.Response:
    """Through the password: the next page (second factor or enrolment)."""
    if at is None:
        at = launch(gateway)
        await at.app.aclose()  # only its authorization URL is needed
    signin = await browser.get(at.url)
    reply = await browser.post(gateway.url("/oauth2/signin"), data={
        "flow": hidden(signin.text, "flow"), "username": username, "password": PASSWORD})  # fmt: skip
    assert reply.status_code == 200, reply.text[:400]
    return reply


async def answer(
    gateway: Gateway, browser: httpx.AsyncClient, page: str, credential: str, name: str | None = None
) -> httpx.Response:
    """Post a ceremony's answer the way webauthn.js does, from the page it was offered on."""
    form = {"flow": hidden(page, "flow"), "ceremony": hidden(page, "ceremony"), "credential": credential}
    if name is None:
        return await browser.post(gateway.url("/oauth2/webauthn/authenticate"), data=form)
    return await browser.post(gateway.url("/oauth2/webauthn/register"), data=form | {"name": name})


async def enrol(gateway: Gateway, username: str) -> SoftwareAuthenticator:
    authenticator = SoftwareAuthenticator(gateway.issuer)
    async with gateway.browser() as browser:
        page = (await password(gateway, browser, username)).text
        reply = await answer(
            gateway, browser, page, authenticator.create(offered(page, "create")), "Desk key"
        )
    assert reply.status_code == 303, reply.text[:400]
    return authenticator


async def tokens(
    gateway: Gateway, browser: httpx.AsyncClient, at: Launch, signed_in: httpx.Response
) -> dict[str, Any]:
    """After the second factor (a 303 to /oauth2/authorize): allow on the consent page, redeem the code."""
    assert signed_in.status_code == 303, signed_in.text[:400]
    assert signed_in.headers["location"].startswith("/oauth2/authorize?")
    consent = await browser.get(gateway.url(signed_in.headers["location"]))
    assert "Allow access?" in consent.text
    scopes = re.findall(r'name="scope" value="([^"]*)"', consent.text)
    form = [("flow", hidden(consent.text, "flow")), ("decision", "allow"), *(("scope", s) for s in scopes)]
    headers = {"content-type": "application/x-www-form-urlencoded"}
    done = await browser.post(gateway.url("/oauth2/consent"), content=urlencode(form), headers=headers)
    assert done.status_code == 303 and done.headers["location"].startswith(REDIRECT + "?")
    token = await at.app.fetch_token(
        gateway.url("/oauth2/token"),
        authorization_response=done.headers["location"],
        code_verifier=at.verifier,
    )
    return dict(token)


# -- the happy path ------------------------------------------------------------------------------------


async def test_enrol_a_key_then_sign_in_with_it_and_the_tokens_say_hwk(gateway: Gateway) -> None:
    authenticator = SoftwareAuthenticator(gateway.issuer)
    first = launch(gateway)
    async with gateway.browser() as browser:
        page = (await password(gateway, browser, "dr.key", first)).text
        assert 'data-webauthn="create"' in page and "Set up a security key" in page
        options = offered(page, "create")
        assert options["rp"]["id"] == "localhost" and options["attestation"] == "none"
        assert options["authenticatorSelection"]["userVerification"] == "preferred"
        enrolled = await answer(gateway, browser, page, authenticator.create(options), "  Desk   key ")
        token = await tokens(gateway, browser, first, enrolled)
    access = claims(token["access_token"])
    assert access["amr"] == ["pwd", "hwk", "mfa"] and access["acr"] == "urn:phigate:aal2"
    await first.app.aclose()

    second = launch(gateway)
    async with gateway.browser() as browser:  # a new browser: no session, so the password and the key again
        page = (await password(gateway, browser, "dr.key", second)).text
        assert 'data-webauthn="get"' in page and "Recovery code" in page  # no authenticator app: codes only
        options = offered(page, "get")
        assert options["rpId"] == "localhost" and options["userVerification"] == "preferred"
        assert [c["id"] for c in options["allowCredentials"]] != []
        signed_in = await answer(gateway, browser, page, authenticator.get(options))
        assert "__Host-phigate-session" in signed_in.headers["set-cookie"]
        token = await tokens(gateway, browser, second, signed_in)
    access, identity = claims(token["access_token"]), claims(token["id_token"])
    assert access["amr"] == identity["amr"] == ["pwd", "hwk", "mfa"] and access["acr"] == "urn:phigate:aal2"
    patients = await second.app.get(gateway.url("/fhir/Patient"), params={"_count": "2"})
    assert patients.status_code == 200 and patients.json()["resourceType"] == "Bundle"
    await second.app.aclose()
    keys = await gateway.users.security_keys(await user_id(gateway, "dr.key"))
    assert [(k.name, k.sign_count) for k in keys] == [("Desk key", 1)] and keys[0].last_used_at is not None


async def user_id(gateway: Gateway, username: str) -> str:
    user = await gateway.users.by_username(username)
    assert user is not None
    return user.user_id


async def test_only_the_key_pages_run_a_script_and_only_this_origins(gateway: Gateway) -> None:
    async with gateway.browser() as browser:
        signin = await browser.get(launch(gateway).url)
        enrolment = await password(gateway, browser, "dr.nokey")
        script = await browser.get(gateway.url("/oauth2/static/webauthn.js"))
    assert "script-src" not in signin.headers["content-security-policy"]  # default-src 'none': none at all
    policy = enrolment.headers["content-security-policy"]
    assert "default-src 'none'; script-src 'self';" in policy and "unsafe" not in policy
    assert re.findall(r"<script[^>]*>", enrolment.text) == ['<script src="/oauth2/static/webauthn.js" defer>']
    assert "totp-secret" in enrolment.text  # the authenticator app stays on offer, and works without script
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "eval(" not in script.text and "Function(" not in script.text


# -- attacks -------------------------------------------------------------------------------------------


def refused(reply: httpx.Response) -> bool:
    """Refused the way a wrong code is: 401, the neutral message, a fresh page, no session."""
    return (
        reply.status_code == 401
        and REFUSED in reply.text
        and "__Host-phigate-session" not in reply.headers.get("set-cookie", "")
        and 'name="ceremony"' in reply.text
    )


async def test_an_answer_made_for_another_site_is_refused(gateway: Gateway) -> None:
    authenticator = await enrol(gateway, "dr.key")
    lies = ({"origin": "https://evil.example"}, {"origin": gateway.issuer.replace("https:", "http:")},
            {"rp_id": "evil.example"}, {"rp_id": "127.0.0.1"})  # fmt: skip
    async with gateway.browser() as browser:
        page = (await password(gateway, browser, "dr.key")).text
        for lie in lies:
            reply = await answer(gateway, browser, page, authenticator.get(offered(page, "get"), **lie))
            assert refused(reply), lie
            page = reply.text  # the page again, with a fresh ceremony
        honest = await answer(gateway, browser, page, authenticator.get(offered(page, "get")))
    assert honest.status_code == 303  # the key itself still works, on the right origin


async def test_a_replayed_answer_is_refused(gateway: Gateway) -> None:
    authenticator = await enrol(gateway, "dr.key")
    async with gateway.browser() as browser:
        page = (await password(gateway, browser, "dr.key")).text
        recorded = authenticator.get(offered(page, "get"))
        assert (await answer(gateway, browser, page, recorded)).status_code == 303
        assert refused(await answer(gateway, browser, page, recorded))  # the same post again
    async with gateway.browser() as attacker:  # the recorded answer on a page of its own (a new challenge)
        page = (await password(gateway, attacker, "dr.key")).text
        assert refused(await answer(gateway, attacker, page, recorded))


async def test_another_persons_key_or_an_unknown_key_is_refused(gateway: Gateway) -> None:
    await enrol(gateway, "dr.key")
    theirs = await enrol(gateway, "dr.other")
    stranger = SoftwareAuthenticator(gateway.issuer)  # a key nobody registered here
    made_up = {"rp": {"id": "localhost"}, "user": {"id": "ZHIua2V5"}, "challenge": "AAAA"}
    stranger.create(made_up)
    async with gateway.browser() as browser:
        page = (await password(gateway, browser, "dr.key")).text
        options = offered(page, "get")
        reply = await answer(gateway, browser, page, theirs.get(options, credential=theirs.credentials[0]))
        assert refused(reply)  # dr.other's key, signing dr.key's challenge
        page = reply.text
        unknown = stranger.get(offered(page, "get"), credential=stranger.credentials[0])
        reply = await answer(gateway, browser, page, unknown)
        assert refused(reply)
        for garbage in ("", "{}", '{"id": "x", "rawId": "x", "type": "public-key", "response": {}}'):
            reply = await answer(gateway, browser, reply.text, garbage)
            assert refused(reply), garbage


async def test_a_counter_that_went_back_is_refused_and_audited(gateway: Gateway) -> None:
    from phigate.adapters.sql.audit import AuditQuery

    authenticator = await enrol(gateway, "dr.key")
    async with gateway.browser() as browser:
        page = (await password(gateway, browser, "dr.key")).text
        assert (
            await answer(gateway, browser, page, authenticator.get(offered(page, "get")))
        ).status_code == 303
    async with gateway.browser() as browser:  # a clone of the key, made before that use
        page = (await password(gateway, browser, "dr.key")).text
        cloned = authenticator.get(offered(page, "get"), sign_count=1)
        assert refused(await answer(gateway, browser, page, cloned))
    evidence = gateway.stack.node.evidence
    assert evidence is not None
    actions: list[str] = []
    for _ in range(60):  # the spool drains to the store every half second
        events = [e.event for e in await evidence.store.search(AuditQuery(kind="security"))]
        actions = [str(e["action"]) for e in events]
        if "signin.key_cloned" in actions:
            break
        await asyncio.sleep(0.1)
    assert "signin.key_cloned" in actions and "signin.failed" in actions
    key = (await gateway.users.security_keys(await user_id(gateway, "dr.key")))[0]
    assert key.sign_count == 1  # the clone's answer changed nothing
    assert key.credential_id not in str(events)  # no key material in the trail


async def test_a_clinician_without_a_second_factor_cannot_skip_it(gateway: Gateway) -> None:
    at = launch(gateway)
    async with gateway.browser() as attacker:  # knows the password, has no second factor to show
        enrolment = (await password(gateway, attacker, "dr.nokey", at)).text
        flow = hidden(enrolment, "flow")
        again = await attacker.get(at.url)  # the password alone started no session
        assert "Sign in" in again.text and "Allow access?" not in again.text
        consent = await attacker.post(
            gateway.url("/oauth2/consent"), data={"flow": flow, "decision": "allow"}
        )
        assert consent.status_code == 400 and "location" not in consent.headers
        form = {"flow": flow, "ceremony": hidden(enrolment, "ceremony"), "credential": "{}"}
        sign_in = await attacker.post(gateway.url("/oauth2/webauthn/authenticate"), data=form)
        assert sign_in.status_code == 400  # an enrolment page cannot sign in with a key
        # Meanwhile the person enrols their own key; the attacker's enrolment page can then add none.
        await enrol(gateway, "dr.nokey")
        late = SoftwareAuthenticator(gateway.issuer).create(offered(enrolment, "create"))
        reply = await answer(gateway, attacker, enrolment, late, "Attacker's key")
    assert reply.status_code == 401 and "__Host-phigate-session" not in reply.headers.get("set-cookie", "")
    keys = await gateway.users.security_keys(await user_id(gateway, "dr.nokey"))
    assert [k.name for k in keys] == ["Desk key"]


async def test_key_failures_count_with_code_failures_towards_lockout(tmp_path: Path) -> None:
    async with open_gateway(tmp_path, people={"backoff_after": 2, "lock_after": 4}) as gateway:
        authenticator = await enrol(gateway, "dr.key")
        async with gateway.browser() as browser:
            page = (await password(gateway, browser, "dr.key")).text
            form = {"flow": hidden(page, "flow"), "code": "AAAA-BBBB-CCCC-DDDD"}  # no such recovery code
            wrong_code = await browser.post(gateway.url("/oauth2/mfa"), data=form)
            assert wrong_code.status_code == 401
            page = wrong_code.text
            statuses = []
            for _ in range(3):  # wrong origin; after the second failure these may also meet the back-off
                phished = authenticator.get(offered(page, "get"), origin="https://evil.example")
                reply = await answer(gateway, browser, page, phished)
                statuses.append(reply.status_code)
                page = reply.text
            assert statuses[0] == 401 and "locked" in page
            honest = await answer(gateway, browser, page, authenticator.get(offered(page, "get")))
        assert honest.status_code == 429 and "locked" in honest.text  # the right key no longer helps
        user = await gateway.users.by_username("dr.key")
        assert user is not None and user.locked  # until an administrator unlocks
