"""A security key (WebAuthn) in a real browser: headless Chromium with a CDP virtual authenticator.

A clinician with no second factor signs in, chooses "Set up a security key" on
the enrolment page (the platform authenticator answers ``navigator.credentials.create``),
allows the app; signs out, signs in again with the key alone
(``navigator.credentials.get``), and the app's tokens say ``hwk``. The gateway
answers as ``https://localhost:PORT``: browsers refuse an IP address as RP ID.
The pages run under their CSP (script from this origin only, none inline);
each step is saved as a screenshot under the test's tmp_path.
"""

from __future__ import annotations

import shutil
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from playwright.async_api import Page, Route, async_playwright

from fixtures.gateway_stack import Stack, running_stack
from fixtures.signin_pages import claims
from fixtures.webauthn_authenticator import localhost_issuer
from phigate.adapters.sql.people import SqlUsers
from phigate.cli.users import add_user, register_app
from phigate.cli.vendor_registry import register_vendor
from phigate.people.roles import Role
from phigate.types import VendorId

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
APP = "key-viewer"
REDIRECT = "https://key-viewer.example/callback"
PASSWORD = "a long clinician passphrase"
SCOPE = "openid fhirUser user/*.rs"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
AUTHENTICATOR = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
                 "hasUserVerification": True, "isUserVerified": True,
                 "automaticPresenceSimulation": True}  # fmt: skip

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, patients=20, **localhost_issuer(tmp_path)) as running:
        db = running.node.services.db
        await register_vendor(db, "Key Viewer Ltd", "key-viewer")
        await register_app(db, VendorId("key-viewer"), "Key Viewer", SCOPE, (REDIRECT,), APP)
        users = SqlUsers(db, running.node.services.keyring)
        await add_user(users, "dr.key", Role.clinician, "Dr Key", PASSWORD, fhir_user="Practitioner/prac-2")
        yield running


def authorize(issuer: str) -> tuple[str, str]:
    """An authorization URL on the issuer's own origin, and its PKCE verifier."""
    verifier = generate_token(48)
    query = {"response_type": "code", "client_id": APP, "redirect_uri": REDIRECT, "aud": issuer + "/fhir",
             "state": generate_token(24), "scope": SCOPE, "code_challenge_method": "S256",
             "code_challenge": create_s256_code_challenge(verifier)}  # fmt: skip
    return issuer + "/oauth2/authorize?" + urlencode(query), verifier


async def password(page: Page, url: str) -> None:
    await page.goto(url)
    await page.get_by_label("Username").fill("dr.key")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def allow(page: Page) -> None:
    await page.wait_for_selector("text=Allow access?")
    await page.get_by_role("button", name="Allow").click()
    await page.wait_for_url("https://key-viewer.example/**")


async def test_enrol_a_security_key_then_sign_in_with_it_in_chromium(stack: Stack, tmp_path: Path) -> None:
    issuer = stack.node.endpoints.issuer
    assert urlsplit(issuer).hostname == "localhost"
    arrived: list[str] = []

    async def app_callback(route: Route) -> None:
        arrived.append(route.request.url)
        await route.fulfill(status=200, content_type="text/html", body="<p>app received the code</p>")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        context = await browser.new_context(ignore_https_errors=True)
        page = await context.new_page()
        violations: list[str] = []
        page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else None)
        await page.route("https://key-viewer.example/**", app_callback)
        cdp = await context.new_cdp_session(page)
        await cdp.send("WebAuthn.enable")
        added = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})

        first, first_verifier = authorize(issuer)
        await password(page, first)
        setup = page.get_by_role("button", name="Set up a security key")
        await setup.wait_for()  # visible: webauthn.js ran under the page's CSP
        await page.get_by_label("Name for this key (optional)").fill("Laptop")
        await page.screenshot(path=tmp_path / "1-enrol-key.png", full_page=True)
        await setup.click()
        await allow(page)

        await page.goto(issuer + "/oauth2/logout")
        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_selector("text=You are signed out")

        second, second_verifier = authorize(issuer)
        await password(page, second)
        use_key = page.get_by_role("button", name="Use your security key")
        await use_key.wait_for()
        await page.screenshot(path=tmp_path / "2-second-factor-key.png", full_page=True)
        await use_key.click()
        await page.wait_for_selector("text=Allow access?")
        await page.screenshot(path=tmp_path / "3-consent.png", full_page=True)
        await allow(page)
        stored = await cdp.send("WebAuthn.getCredentials", {"authenticatorId": added["authenticatorId"]})
        await browser.close()

    assert all(
        (tmp_path / name).stat().st_size > 1000
        for name in ("1-enrol-key.png", "2-second-factor-key.png", "3-consent.png")
    )
    assert not violations, violations
    assert len(stored["credentials"]) == 1 and stored["credentials"][0]["rpId"] == "localhost"
    assert len(arrived) == 2
    verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
    async with httpx.AsyncClient(verify=verify, timeout=15) as client:
        for location, verifier in zip(arrived, (first_verifier, second_verifier), strict=True):
            code = parse_qs(urlsplit(location).query)["code"][0]
            form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                    "client_id": APP, "code_verifier": verifier}  # fmt: skip
            token = (await client.post(stack.public + "/oauth2/token", data=form)).json()
            assert claims(token["access_token"])["amr"] == ["pwd", "hwk", "mfa"]
        patients = await client.get(
            stack.public + "/fhir/Patient", headers={"authorization": f"Bearer {token['access_token']}"}
        )
    assert patients.status_code == 200 and patients.json()["resourceType"] == "Bundle"
    users = SqlUsers(stack.node.services.db, stack.node.services.keyring)
    user = await users.by_username("dr.key")
    assert user is not None
    assert [k.name for k in await users.security_keys(user.user_id)] == ["Laptop"]
