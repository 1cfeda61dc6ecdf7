"""Emergency access (break-glass) end to end: a reason, a short elevated token, marked audit, alert, review.

A clinician whose role ceiling is narrowed to their own Practitioner record
breaks the glass on the consent page: the app gets ``user/*.rs`` for one short
token without refresh, the token names the record, every audit event of its
requests names it too, an alert is raised at once, and the record waits in the
review queue until a security officer closes it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from fixtures.gateway_stack import Stack, running_stack
from fixtures.signin_pages import claims, hidden
from phigate.adapters.sql.people import SqlUsers
from phigate.audit.events import AuditEvent, Kind
from phigate.cli.users import add_user, close_break_glass, register_app
from phigate.cli.vendor_registry import register_vendor
from phigate.oauth.mfa import totp
from phigate.people.break_glass import ReviewStatus
from phigate.people.errors import UnknownBreakGlass, UserError
from phigate.people.roles import Role
from phigate.types import VendorId

APP = "ward-app"
REDIRECT = "https://ward.example/callback"
PASSWORD = "correct horse battery staple"
REASON = "Unconscious patient in the emergency department, no consent possible"
NARROW = "openid fhirUser user/Practitioner.rs"


@dataclass
class Ward:
    stack: Stack
    totp_secret: str

    @property
    def fhir(self) -> str:
        return self.stack.public + "/fhir"

    def browser(self) -> httpx.AsyncClient:
        tls = ssl.create_default_context(cafile=self.stack.pki.ca_cert)
        return httpx.AsyncClient(verify=tls, timeout=15, follow_redirects=False)


@pytest.fixture
async def ward(tmp_path: Path) -> AsyncIterator[Ward]:
    people = {"roles": {"clinician": {"scopes": NARROW}}, "break_glass": {"token_seconds": 60}}
    async with running_stack(tmp_path, patients=20, people=people) as stack:
        db = stack.node.services.db
        await register_vendor(db, "Ward Inc", "ward")
        scopes = "openid fhirUser offline_access launch/patient patient/*.rs user/*.rs"
        await register_app(db, VendorId("ward"), "Ward", scopes, (REDIRECT,), APP)
        users = SqlUsers(db, stack.node.services.keyring)
        _, enrolment = await add_user(users, "dr.grey", Role.clinician, "Dr Grey", PASSWORD,
                                      fhir_user="Practitioner/prac-1", with_totp=True)  # fmt: skip
        await add_user(users, "canary", Role.patient, "Canary", PASSWORD, fhir_user="Patient/pat-canary")
        await add_user(users, "sec.officer", Role.security_officer, "Sam Officer", PASSWORD)
        assert enrolment is not None
        yield Ward(stack, enrolment.secret)


def authorize_url(ward: Ward, scope: str) -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {"response_type": "code", "client_id": APP, "redirect_uri": REDIRECT, "scope": scope,
             "state": secrets.token_urlsafe(8), "aud": ward.fhir, "code_challenge": challenge,
             "code_challenge_method": "S256"}  # fmt: skip
    return ward.stack.public + "/oauth2/authorize?" + urlencode(query), verifier


async def consent_page(ward: Ward, browser: httpx.AsyncClient, url: str, username: str) -> str:
    page = await browser.get(url)
    form = {"flow": hidden(page.text), "username": username, "password": PASSWORD}
    reply = await browser.post(ward.stack.public + "/oauth2/signin", data=form)
    if 'name="code"' in reply.text:
        code = totp.code_at(ward.totp_secret, time.time())
        reply = await browser.post(
            ward.stack.public + "/oauth2/mfa", data={"flow": hidden(reply.text), "code": code}
        )
    assert reply.status_code == 303, reply.text
    consent = await browser.get(ward.stack.public + reply.headers["location"])
    assert consent.status_code == 200 and "Allow access?" in consent.text
    return consent.text


async def redeem(ward: Ward, browser: httpx.AsyncClient, location: str, verifier: str) -> dict[str, Any]:
    code = parse_qs(urlsplit(location).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": APP,
            "code_verifier": verifier}  # fmt: skip
    reply = await browser.post(ward.stack.public + "/oauth2/token", data=form)
    assert reply.status_code == 200, reply.text
    token: dict[str, Any] = reply.json()
    return token


async def test_break_glass_grants_short_marked_access_alerts_and_waits_for_review(ward: Ward) -> None:
    node = ward.stack.node
    assert node.evidence is not None and node.people is not None
    seen: list[AuditEvent] = []
    node.evidence.trail.observers.append(seen.append)
    url, verifier = authorize_url(ward, "openid fhirUser offline_access user/*.rs")
    async with ward.browser() as browser:
        page = await consent_page(ward, browser, url, "dr.grey")
        offered = re.findall(r'name="scope" value="([^"]*)"', page)
        assert sorted(offered) == ["fhirUser", "openid", "user/Practitioner.rs"]  # the narrowed role
        assert "Break the glass" in page
        short = await browser.post(ward.stack.public + "/oauth2/break-glass",
                                   data={"flow": hidden(page), "reason": "because"})  # fmt: skip
        assert short.status_code == 400 and "reason" in short.text and "Break the glass" in short.text
        assert await node.people.break_glass.list() == []  # nothing stored, nothing granted
        done = await browser.post(ward.stack.public + "/oauth2/break-glass",
                                  data={"flow": hidden(short.text), "reason": REASON})  # fmt: skip
        assert done.status_code == 303 and done.headers["location"].startswith(REDIRECT + "?")
        token = await redeem(ward, browser, done.headers["location"], verifier)

    assert token["scope"] == "fhirUser openid user/*.rs"  # beyond the ceiling; no offline_access
    assert "refresh_token" not in token
    access = claims(token["access_token"])
    record_id = access["break_glass"]
    assert access["exp"] - access["iat"] == 60 and token["expires_in"] == 60
    assert access["acr"] == "urn:phigate:aal2"

    # The alert is raised at once, naming the record (never the reason).
    alerts = [a for a in node.evidence.desk.raised if a.detector == "break_glass"]
    assert [a.subject for a in alerts] == [record_id] and alerts[0].client_id == APP
    assert REASON not in alerts[0].explanation

    # The elevated token reads any patient; every audit event of its requests names the record.
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ward.stack.pki.ca_cert)) as app:
        bearer = {"authorization": f"Bearer {token['access_token']}"}
        read = await app.get(ward.fhir + "/Patient/pat-canary", headers=bearer)
        assert read.status_code == 200 and read.json()["id"] == "pat-canary"
        search = await app.get(ward.fhir + "/Observation", params={"patient": "pat-canary"}, headers=bearer)
        assert search.status_code == 200
    exchanges = [e for e in seen if e.kind is Kind.exchange and e.client_id == APP]
    assert len(exchanges) == 2 and all(e.rules.get("break_glass") == record_id for e in exchanges)
    assert all(REASON not in json.dumps(e.record()) for e in seen)

    # The review queue: open until a security officer (and only one) closes it with a note.
    store, users = node.people.break_glass, node.people.users
    [queued] = await store.list()
    assert queued.record_id == record_id and queued.reason == REASON and queued.status is ReviewStatus.open
    with pytest.raises(UserError):
        await close_break_glass(store, users, record_id, "dr.grey", "fine", time.time())
    closed = await close_break_glass(
        store, users, record_id, "sec.officer", "Chart confirms ED visit", time.time()
    )
    assert closed.status is ReviewStatus.closed and closed.note == "Chart confirms ED visit"
    with pytest.raises(UnknownBreakGlass):
        await close_break_glass(store, users, record_id, "sec.officer", "again", time.time())
    assert await store.list() == [] and len(await store.list(open_only=False)) == 1


async def test_normal_consent_stays_within_the_ceiling(ward: Ward) -> None:
    url, verifier = authorize_url(ward, "openid fhirUser user/*.rs")
    async with ward.browser() as browser:
        page = await consent_page(ward, browser, url, "dr.grey")
        form = [("flow", hidden(page)), ("decision", "allow"), ("scope", "openid"), ("scope", "user/*.rs")]
        done = await browser.post(ward.stack.public + "/oauth2/consent", content=urlencode(form),
                                  headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
        token = await redeem(ward, browser, done.headers["location"], verifier)
    assert token["scope"] == "openid user/Practitioner.rs" and "break_glass" not in claims(
        token["access_token"]
    )
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ward.stack.pki.ca_cert)) as app:
        read = await app.get(ward.fhir + "/Patient/pat-canary",
                             headers={"authorization": f"Bearer {token['access_token']}"})  # fmt: skip
    assert read.status_code == 403


async def test_a_patient_cannot_break_the_glass(ward: Ward) -> None:
    node = ward.stack.node
    assert node.people is not None and node.evidence is not None
    url, _ = authorize_url(ward, "openid launch/patient patient/*.rs user/*.rs")
    async with ward.browser() as browser:
        page = await consent_page(ward, browser, url, "canary")
        assert "Break the glass" not in page
        refused = await browser.post(ward.stack.public + "/oauth2/break-glass",
                                     data={"flow": hidden(page), "reason": REASON})  # fmt: skip
    assert refused.status_code == 403 and "location" not in refused.headers
    assert await node.people.break_glass.list() == []
    assert not [a for a in node.evidence.desk.raised if a.detector == "break_glass"]
