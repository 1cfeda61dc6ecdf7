"""SMART EHR launch and the patient picker, end to end, against a running gateway; then the attacks.

The EHR starts a launch through the admin API (``POST /admin/launches``); SMART's
own Python client (``fhirclient``) opens the app with that ``launch`` value, the
test plays the clinician at the sign-in, second-factor and consent pages, and the
app reads the launched patient's data and nothing else. A standalone launch that
asks for ``launch/patient`` by a clinician goes through the patient picker,
which searches the real FHIR server behind the gateway.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fhirclient import client as smart_client
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRNotFoundException, FHIRPermissionDeniedException

from fixtures.gateway_stack import Stack, running_stack
from fixtures.signin_pages import claims, hidden
from phigate.adapters.sql.launches import SqlLaunches
from phigate.adapters.sql.people import SqlUsers
from phigate.audit.events import AuditEvent
from phigate.cli.users import add_user, register_app
from phigate.cli.vendor_registry import register_vendor
from phigate.oauth.mfa import totp
from phigate.people.launches import LaunchContext, launch_hash
from phigate.people.roles import Role
from phigate.types import VendorId

APP, OTHER_APP = "chart-app", "other-app"
REDIRECT = "https://chart.example/callback"
PASSWORD = "correct horse battery staple"
SCOPES = "openid fhirUser launch launch/patient launch/encounter patient/*.rs user/Practitioner.rs"


@dataclass
class Ehr:
    stack: Stack
    launch_token: str  # the EHR's launch-only secret
    admin_token: str
    totp_secrets: dict[str, str]
    trail: list[AuditEvent] = field(default_factory=list)

    @property
    def fhir(self) -> str:
        return self.stack.public + "/fhir"

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.stack.pki.ca_cert)

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(verify=self.tls(), timeout=15, follow_redirects=False)

    async def launch(self, **body: str) -> httpx.Response:
        async with httpx.AsyncClient(verify=self.tls(), timeout=15) as http:
            return await http.post(self.stack.admin + "/admin/launches", json=body,
                                   headers={"authorization": f"Bearer {self.launch_token}"})  # fmt: skip


@pytest.fixture
async def ehr(tmp_path: Path) -> AsyncIterator[Ehr]:
    token, launch_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    (tmp_path / "admin.token").write_text(token)
    (tmp_path / "launch.token").write_text(launch_token)
    admin_api = {
        "token_file": str(tmp_path / "admin.token"),
        "launch_token_file": str(tmp_path / "launch.token"),
    }
    async with running_stack(tmp_path, patients=20, admin_api=admin_api) as stack:
        db = stack.node.services.db
        await register_vendor(db, "Chart Inc", "chart")
        await register_app(db, VendorId("chart"), "Chart", SCOPES, (REDIRECT,), APP)
        await register_app(db, VendorId("chart"), "Other", SCOPES, ("https://other.example/cb",), OTHER_APP)
        users = SqlUsers(db, stack.node.services.keyring)
        secrets_by_user = {}
        for name in ("dr.grey", "dr.house"):
            _, enrolment = await add_user(users, name, Role.clinician, name.title(), PASSWORD,
                                          fhir_user="Practitioner/prac-1", with_totp=True)  # fmt: skip
            assert enrolment is not None
            secrets_by_user[name] = enrolment.secret
        await add_user(users, "canary", Role.patient, "Canary", PASSWORD, fhir_user="Patient/pat-canary")
        found = Ehr(stack, launch_token, token, secrets_by_user)
        assert stack.node.evidence is not None
        stack.node.evidence.trail.observers.append(found.trail.append)
        yield found


def authorize_url(ehr: Ehr, scope: str, launch: str | None = None, client_id: str = APP) -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": scope,
             "state": secrets.token_urlsafe(8), "aud": ehr.fhir, "code_challenge": challenge,
             "code_challenge_method": "S256"}  # fmt: skip
    if launch is not None:
        query["launch"] = launch
    return ehr.stack.public + "/oauth2/authorize?" + urlencode(query), verifier


async def signed_in(ehr: Ehr, browser: httpx.AsyncClient, url: str, username: str) -> httpx.Response:
    """Sign in (password, then TOTP for a clinician); the page that follows at the authorization URL."""
    page = await browser.get(url)
    assert page.status_code == 200, page.text
    form = {"flow": hidden(page.text), "username": username, "password": PASSWORD}
    reply = await browser.post(ehr.stack.public + "/oauth2/signin", data=form)
    if 'name="code"' in reply.text:
        code = totp.code_at(ehr.totp_secrets[username], time.time())
        reply = await browser.post(
            ehr.stack.public + "/oauth2/mfa", data={"flow": hidden(reply.text), "code": code}
        )
    assert reply.status_code == 303, reply.text
    return await browser.get(ehr.stack.public + reply.headers["location"])


async def allow_all(ehr: Ehr, browser: httpx.AsyncClient, consent: str) -> httpx.Response:
    offered = re.findall(r'name="scope" value="([^"]*)"', consent)
    pairs = [("flow", hidden(consent)), ("decision", "allow"), *(("scope", s) for s in offered)]
    return await browser.post(ehr.stack.public + "/oauth2/consent", content=urlencode(pairs),
                              headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip


async def redeem(ehr: Ehr, browser: httpx.AsyncClient, location: str, verifier: str) -> dict[str, Any]:
    code = parse_qs(urlsplit(location).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": APP,
            "code_verifier": verifier}  # fmt: skip
    reply = await browser.post(ehr.stack.public + "/oauth2/token", data=form)
    assert reply.status_code == 200, reply.text
    token: dict[str, Any] = reply.json()
    return token


def redirect_error(reply: httpx.Response) -> str:
    assert reply.status_code == 303 and reply.headers["location"].startswith(REDIRECT), reply.text
    return parse_qs(urlsplit(reply.headers["location"]).query)["error"][0]


async def test_fhirclient_ehr_launch_opens_the_launched_patient_only(ehr: Ehr) -> None:
    started = await ehr.launch(client_id=APP, patient="pat-0003", encounter="enc-0003-1", user="dr.grey")
    assert started.status_code == 201, started.text
    assert started.headers["cache-control"] == "no-store"
    launch = started.json()
    assert launch["iss"] == ehr.fhir and launch["expires_in"] == 600
    created = [e for e in ehr.trail if e.action == "launch.created"]
    assert len(created) == 1 and created[0].patients == ("pat-0003",) and created[0].client_id == APP
    assert launch["launch"] not in json.dumps([e.record() for e in ehr.trail])  # a credential: never audited

    scope = "openid fhirUser patient/*.rs launch/encounter"
    settings = {"app_id": APP, "api_base": ehr.fhir, "redirect_uri": REDIRECT,
                "launch_token": launch["launch"], "scope": scope}  # fmt: skip
    smart = smart_client.FHIRClient(settings=settings)
    try:
        smart.server.session.trust_env = False
        smart.server.session.verify = str(ehr.stack.pki.ca_cert)
        url = await asyncio.to_thread(lambda: smart.authorize_url)
        asked = parse_qs(urlsplit(url).query)
        assert asked["launch"] == [launch["launch"]] and "launch" in asked["scope"][0].split()
        async with ehr.browser() as browser:
            consent = await signed_in(ehr, browser, url, "dr.grey")
            assert (
                consent.status_code == 200 and "Patient in context: <strong>pat-0003</strong>" in consent.text
            )
            done = await allow_all(ehr, browser, consent.text)
            assert done.status_code == 303, done.text
            await asyncio.to_thread(smart.handle_callback, done.headers["location"])
            assert smart.ready and smart.patient_id == "pat-0003"
            assert smart.launch_context["encounter"] == "enc-0003-1"
            assert {"launch", "patient/*.rs"} <= set(smart.launch_context["scope"].split())
            patient = await asyncio.to_thread(Patient.read, "pat-0003", smart.server)
            assert patient.id == "pat-0003"
            with pytest.raises((FHIRPermissionDeniedException, FHIRNotFoundException)):
                await asyncio.to_thread(Patient.read, "pat-0004", smart.server)

            # The launch yields one authorization: opening it again is refused at the app's redirect URI.
            again = await browser.get(url)
            assert redirect_error(again) == "invalid_request"
    finally:
        smart.server.session.close()


async def test_ehr_launch_attacks_are_refused(ehr: Ehr) -> None:
    async def launch_for(**body: str) -> str:
        reply = await ehr.launch(**body)
        assert reply.status_code == 201, reply.text
        value: str = reply.json()["launch"]
        return value

    async with ehr.browser() as browser:
        # A launch value without the launch scope, and the scope without a launch value.
        value = await launch_for(client_id=APP, patient="pat-0003")
        url, _ = authorize_url(ehr, "openid patient/*.rs", launch=value)
        assert redirect_error(await browser.get(url)) == "invalid_scope"
        url, _ = authorize_url(ehr, "openid launch patient/*.rs")
        assert redirect_error(await browser.get(url)) == "invalid_scope"
        # Unknown, and another app's launch.
        url, _ = authorize_url(ehr, "openid launch patient/*.rs", launch=secrets.token_urlsafe(32))
        assert redirect_error(await browser.get(url)) == "invalid_request"
        other = await launch_for(client_id=OTHER_APP, patient="pat-0003")
        url, _ = authorize_url(ehr, "openid launch patient/*.rs", launch=other)
        assert redirect_error(await browser.get(url)) == "invalid_request"
        # Expired (stored as the EHR would have made it, ten minutes ago).
        expired = secrets.token_urlsafe(32)
        store = SqlLaunches(ehr.stack.node.services.db, ehr.stack.node.services.keyring)
        now = time.time()
        await store.add(LaunchContext(launch_hash(expired), APP, "pat-0003", now - 700, now - 100))
        url, _ = authorize_url(ehr, "openid launch patient/*.rs", launch=expired)
        assert redirect_error(await browser.get(url)) == "invalid_request"

    # A launch the EHR started for Dr Grey cannot be completed by Dr House.
    for_grey = await launch_for(client_id=APP, patient="pat-0003", user="dr.grey")
    async with ehr.browser() as browser:
        url, _ = authorize_url(ehr, "openid launch patient/*.rs", launch=for_grey)
        refused = await signed_in(ehr, browser, url, "dr.house")
        assert refused.status_code == 403 and "another person" in refused.text
        assert "code=" not in refused.headers.get("location", "")

    # A patient user is never launched into another patient's record.
    for_someone = await launch_for(client_id=APP, patient="pat-0002")
    async with ehr.browser() as browser:
        url, _ = authorize_url(ehr, "openid launch patient/*.rs", launch=for_someone)
        refused = await signed_in(ehr, browser, url, "canary")
        assert refused.status_code == 403 and "another patient" in refused.text


async def test_the_admin_api_refuses_bad_launches_naming_the_field(ehr: Ehr) -> None:
    cases = [
        ({"client_id": "no-such-app", "patient": "pat-0003"}, "client_id"),
        ({"client_id": APP, "patient": "pat 0003/../x"}, "patient"),
        ({"client_id": APP, "patient": "pat-0003", "user": "nobody"}, "user"),
        ({"client_id": APP, "patient": "pat-0002", "user": "canary"}, "patient"),
        ({"client_id": APP}, "patient"),
    ]
    for body, named in cases:
        reply = await ehr.launch(**body)
        assert reply.status_code == 400, (body, reply.text)
        assert reply.json()["message"].startswith(f"{named}:"), reply.text
    async with httpx.AsyncClient(verify=ehr.tls(), timeout=15) as http:
        unauthenticated = await http.post(ehr.stack.admin + "/admin/launches", json={"client_id": APP})
        # The EHR's launch-only secret opens nothing else; the administrator's opens launches too.
        as_ehr = {"authorization": f"Bearer {ehr.launch_token}"}
        vendors = await http.get(ehr.stack.admin + "/admin/vendors", headers=as_ehr)
        suspend = await http.post(ehr.stack.admin + "/admin/vendors/chart/suspend", json={"reason": "x"},
                                  headers=as_ehr)  # fmt: skip
        as_admin = {"authorization": f"Bearer {ehr.admin_token}"}
        by_admin = await http.post(ehr.stack.admin + "/admin/launches", headers=as_admin,
                                   json={"client_id": APP, "patient": "pat-0003"})  # fmt: skip
    assert unauthenticated.status_code == 401
    assert vendors.status_code == 401 and suspend.status_code == 401
    assert by_admin.status_code == 201
    assert len([e for e in ehr.trail if e.action == "launch.created"]) == 1  # the administrator's only


async def test_the_patient_picker_puts_the_chosen_patient_in_context(ehr: Ehr) -> None:
    async with httpx.AsyncClient(verify=ehr.tls(), timeout=15) as direct:
        chosen = (await direct.get(ehr.stack.ehr + "/fhir/Patient/pat-0005")).json()
    family = chosen["name"][0]["family"]

    async with ehr.browser() as browser:
        url, verifier = authorize_url(ehr, "openid fhirUser launch/patient patient/*.rs")
        picker = await signed_in(ehr, browser, url, "dr.grey")
        assert picker.status_code == 200 and "Choose a patient" in picker.text, picker.text[:300]
        assert "Allow access?" not in picker.text  # no consent before a patient is chosen

        found = await browser.post(
            ehr.stack.public + "/oauth2/patient", data={"flow": hidden(picker.text), "q": family}
        )
        assert found.status_code == 200 and 'value="pat-0005"' in found.text
        searched = [e for e in ehr.trail if e.action == "launch.patient_search"]
        assert searched and "pat-0005" in searched[-1].patients and searched[-1].client_id == APP

        unknown = {"flow": hidden(found.text), "patient": "no-such-patient"}
        missing = await browser.post(ehr.stack.public + "/oauth2/patient", data=unknown)
        assert missing.status_code == 400 and "not found" in missing.text

        consent = await browser.post(ehr.stack.public + "/oauth2/patient",
                                     data={"flow": hidden(found.text), "patient": "pat-0005"})  # fmt: skip
        assert consent.status_code == 200 and "Patient in context: <strong>pat-0005</strong>" in consent.text
        assert [e.patients for e in ehr.trail if e.action == "launch.patient_chosen"] == [("pat-0005",)]
        done = await allow_all(ehr, browser, consent.text)
        token = await redeem(ehr, browser, done.headers["location"], verifier)
        assert token["patient"] == "pat-0005" and "patient/*.rs" in token["scope"].split()
        assert claims(token["access_token"])["patient"] == "pat-0005"

        bearer = {"authorization": f"Bearer {token['access_token']}"}
        own = await browser.get(ehr.fhir + "/Patient/pat-0005", headers=bearer)
        assert own.status_code == 200
        other = await browser.get(ehr.fhir + "/Patient/pat-0006", headers=bearer)
        assert other.status_code in (403, 404)

        # A flow token from the picker cannot be replayed into consent with another patient.
        replayed = {"flow": hidden(found.text), "decision": "allow", "scope": "patient/*.rs"}
        forged = await browser.post(ehr.stack.public + "/oauth2/consent", data=replayed)
        assert forged.status_code == 400 and "code=" not in forged.headers.get("location", "")
