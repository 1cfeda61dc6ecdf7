"""SMART's own Python client (``fhirclient``) drives a standalone launch against a running gateway.

fhirclient makes the authorization URL (PKCE S256, ``state``, ``aud``, and the
``launch/patient`` scope it adds itself), redeems the code at the token
endpoint, takes the patient from the launch context and reads FHIR data with
the token; the test plays the person at the sign-in and consent pages.

fhirclient 4.4.0 finds the OAuth endpoints only in the CapabilityStatement's
``oauth-uris`` extension (SMART STU1); the gateway adds it to the upstream's
``/metadata`` reply (as well as publishing ``.well-known/smart-configuration``).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fhirclient import client as smart_client
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRNotFoundException, FHIRPermissionDeniedException

from fixtures.gateway_stack import Stack, running_stack
from fixtures.signin_pages import hidden
from phigate.adapters.sql.people import SqlUsers
from phigate.cli.users import add_user, register_app
from phigate.cli.vendor_registry import register_vendor
from phigate.people.roles import Role
from phigate.types import VendorId

APP = "smart-py-app"
REDIRECT = "https://smart-py.example/callback"
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, patients=20) as stack:
        db = stack.node.services.db
        await register_vendor(db, "SMART Py", "smartpy")
        scopes = "openid fhirUser launch/patient patient/*.rs"
        await register_app(db, VendorId("smartpy"), "SMART Py", scopes, (REDIRECT,), APP)
        users = SqlUsers(db, stack.node.services.keyring)
        await add_user(users, "canary", Role.patient, "Canary", PASSWORD, fhir_user="Patient/pat-canary")
        yield stack


async def play_the_person(stack: Stack, url: str) -> str:
    """Sign in and allow everything offered; the app's redirect (with the code)."""
    tls = ssl.create_default_context(cafile=stack.pki.ca_cert)
    async with httpx.AsyncClient(verify=tls, timeout=15, follow_redirects=False) as browser:
        page = await browser.get(url)
        assert page.status_code == 200, page.text
        form = {"flow": hidden(page.text), "username": "canary", "password": PASSWORD}
        signed_in = await browser.post(stack.public + "/oauth2/signin", data=form)
        assert signed_in.status_code == 303, signed_in.text
        consent = await browser.get(stack.public + signed_in.headers["location"])
        offered = re.findall(r'name="scope" value="([^"]*)"', consent.text)
        pairs = [("flow", hidden(consent.text)), ("decision", "allow"), *(("scope", s) for s in offered)]
        form_type = {"content-type": "application/x-www-form-urlencoded"}
        done = await browser.post(
            stack.public + "/oauth2/consent", content=urlencode(pairs), headers=form_type
        )
        assert done.status_code == 303, done.text
        location: str = done.headers["location"]
        return location


async def test_fhirclient_standalone_launch_reads_within_the_granted_scopes(stack: Stack) -> None:
    fhir = stack.public + "/fhir"
    settings = {
        "app_id": APP,
        "api_base": fhir,
        "redirect_uri": REDIRECT,
        "scope": "openid fhirUser patient/*.rs",
    }
    smart = smart_client.FHIRClient(settings=settings)
    try:
        # Without this, REQUESTS_CA_BUNDLE from the environment wins over ``verify``.
        smart.server.session.trust_env = False
        smart.server.session.verify = str(stack.pki.ca_cert)
        # fhirclient reads the OAuth endpoints from /metadata (the SMART oauth-uris extension) by itself.
        url = await asyncio.to_thread(lambda: smart.authorize_url)
        asked = parse_qs(urlsplit(url).query)
        assert asked["code_challenge_method"] == ["S256"] and asked["aud"] == [fhir]
        assert "launch/patient" in asked["scope"][0].split()  # fhirclient asks for a patient itself
        location = await play_the_person(stack, url)
        await asyncio.to_thread(smart.handle_callback, location)

        assert smart.ready and smart.patient_id == "pat-canary"
        granted = set(smart.launch_context["scope"].split())
        assert granted == {"openid", "fhirUser", "launch/patient", "patient/*.rs"}
        patient = await asyncio.to_thread(Patient.read, "pat-canary", smart.server)
        assert patient.id == "pat-canary" and patient.name
        search = Observation.where(struct={"patient": "pat-canary", "_count": "5"})
        # fhirclient blocks: every call that talks to the gateway runs off the event loop serving it.
        bundle = await asyncio.to_thread(lambda: next(search.perform_iter(smart.server)))
        observations = [entry.resource for entry in bundle.entry or []]
        assert observations and all(o.subject.reference.endswith("pat-canary") for o in observations)
        with pytest.raises((FHIRPermissionDeniedException, FHIRNotFoundException)):  # another patient
            await asyncio.to_thread(Patient.read, "pat-0002", smart.server)
    finally:
        smart.server.session.close()  # the client's keep-alive connections to the gateway
