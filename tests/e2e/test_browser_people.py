"""The sign-in, second-factor, patient-picker and consent pages in a real browser (headless Chromium).

A clinician with no second factor yet signs in, enrols TOTP from the QR page,
proves it, unticks a scope on the consent page and allows the rest; the app's
redirect is caught in the browser and the code redeemed for tokens that read
FHIR data. Then a standalone launch asking for ``launch/patient`` goes through
the patient picker. The pages run under their strict CSP with no script at
all; each step is saved as a screenshot under the test's tmp_path.
"""

from __future__ import annotations

import shutil
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from playwright.async_api import Route, async_playwright

from fixtures.gateway_stack import Stack, running_stack
from phigate.adapters.sql.people import SqlUsers
from phigate.cli.users import add_user, register_app
from phigate.cli.vendor_registry import register_vendor
from phigate.oauth.mfa import totp
from phigate.people.roles import Role
from phigate.types import VendorId

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
APP = "chart-viewer"
REDIRECT = "https://chart-viewer.example/callback"
PASSWORD = "a long clinician passphrase"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, patients=20) as running:
        db = running.node.services.db
        await register_vendor(db, "Chart Viewer Ltd", "chart-viewer")
        scopes = "openid fhirUser offline_access launch/patient patient/*.rs user/*.rs"
        await register_app(db, VendorId("chart-viewer"), "Chart Viewer", scopes, (REDIRECT,), APP)
        users = SqlUsers(db, running.node.services.keyring)
        await add_user(
            users, "dr.house", Role.clinician, "Dr House", PASSWORD, fhir_user="Practitioner/prac-2"
        )
        yield running


async def test_signin_enrolment_and_consent_in_chromium(stack: Stack, tmp_path: Path) -> None:
    fhir = stack.public + "/fhir"
    verifier = generate_token(48)
    query = {"response_type": "code", "client_id": APP, "redirect_uri": REDIRECT, "aud": fhir,
             "state": generate_token(24), "scope": "openid fhirUser offline_access user/*.rs",
             "code_challenge": create_s256_code_challenge(verifier),
             "code_challenge_method": "S256"}  # fmt: skip
    arrived: list[str] = []

    async def app_callback(route: Route) -> None:
        arrived.append(route.request.url)
        await route.fulfill(status=200, content_type="text/html", body="<p>app received the code</p>")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        context = await browser.new_context(ignore_https_errors=True)
        page = await context.new_page()
        violations: list[str] = []
        page.on(
            "console",
            lambda message: violations.append(message.text) if "Content Security" in message.text else None,
        )
        await page.route("https://chart-viewer.example/**", app_callback)
        await page.goto(stack.public + "/oauth2/authorize?" + urlencode(query))
        assert await page.title() == "Sign in · phigate"
        await page.screenshot(path=tmp_path / "1-signin.png", full_page=True)
        await page.get_by_label("Username").fill("dr.house")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_selector("#totp-secret")
        await page.screenshot(path=tmp_path / "2-enrol.png", full_page=True)
        secret = (await page.locator("#totp-secret").inner_text()).strip()
        assert await page.locator("img.qr").evaluate("img => img.naturalWidth") > 0  # the QR code rendered
        assert await page.locator("#recovery-codes li").count() == totp.RECOVERY_CODES
        await page.get_by_label("Code from your app").fill(totp.code_at(secret, time.time()))
        await page.get_by_role("button", name="Confirm").click()
        await page.wait_for_selector("text=Allow access?")
        await page.screenshot(path=tmp_path / "3-consent.png", full_page=True)
        await page.get_by_role("checkbox", name="offline_access").uncheck()
        await page.get_by_role("button", name="Allow").click()
        await page.wait_for_url("https://chart-viewer.example/**")
        await browser.close()

    assert all(
        (tmp_path / name).stat().st_size > 1000 for name in ("1-signin.png", "2-enrol.png", "3-consent.png")
    )
    assert not violations, violations
    assert len(arrived) == 1
    reply = parse_qs(urlsplit(arrived[0]).query)
    form = {"grant_type": "authorization_code", "code": reply["code"][0], "redirect_uri": REDIRECT,
            "client_id": APP, "code_verifier": verifier}  # fmt: skip
    verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
    async with httpx.AsyncClient(verify=verify, timeout=15) as client:
        token = (await client.post(stack.public + "/oauth2/token", data=form)).json()
        assert token["scope"] == "fhirUser openid user/*.rs" and "refresh_token" not in token  # unticked
        patients = await client.get(
            fhir + "/Patient", headers={"authorization": f"Bearer {token['access_token']}"}
        )
    assert patients.status_code == 200 and patients.json()["resourceType"] == "Bundle"


async def test_the_patient_picker_in_chromium(stack: Stack, tmp_path: Path) -> None:
    users = SqlUsers(stack.node.services.db, stack.node.services.keyring)
    _, enrolment = await add_user(users, "dr.grey", Role.clinician, "Dr Grey", PASSWORD,
                                  fhir_user="Practitioner/prac-1", with_totp=True)  # fmt: skip
    assert enrolment is not None
    verifier = generate_token(48)
    query = {"response_type": "code", "client_id": APP, "redirect_uri": REDIRECT,
             "aud": stack.public + "/fhir", "state": generate_token(24),
             "scope": "openid launch/patient patient/*.rs", "code_challenge_method": "S256",
             "code_challenge": create_s256_code_challenge(verifier)}  # fmt: skip
    arrived: list[str] = []

    async def app_callback(route: Route) -> None:
        arrived.append(route.request.url)
        await route.fulfill(status=200, content_type="text/html", body="<p>app received the code</p>")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = await (await browser.new_context(ignore_https_errors=True)).new_page()
        violations: list[str] = []
        page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else None)
        await page.route("https://chart-viewer.example/**", app_callback)
        await page.goto(stack.public + "/oauth2/authorize?" + urlencode(query))
        await page.get_by_label("Username").fill("dr.grey")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_label("Code").fill(totp.code_at(enrolment.secret, time.time()))
        await page.get_by_role("button", name="Verify").click()
        await page.wait_for_selector("text=Choose a patient")
        await page.get_by_label("Patient name or identifier").fill("Allen")
        await page.get_by_role("button", name="Search").click()
        await page.wait_for_selector("text=Patients found")
        await page.screenshot(path=tmp_path / "4-patient-picker.png", full_page=True)
        await page.get_by_role("radio", name="Patient/pat-0005").check()
        await page.get_by_role("button", name="Choose this patient").click()
        await page.wait_for_selector("text=Allow access?")
        assert "pat-0005" in await page.locator("main").inner_text()
        await page.get_by_role("button", name="Allow").click()
        await page.wait_for_url("https://chart-viewer.example/**")
        await browser.close()

    assert (tmp_path / "4-patient-picker.png").stat().st_size > 1000
    assert not violations, violations
    code = parse_qs(urlsplit(arrived[0]).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": APP,
            "code_verifier": verifier}  # fmt: skip
    verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
    async with httpx.AsyncClient(verify=verify, timeout=15) as client:
        token = (await client.post(stack.public + "/oauth2/token", data=form)).json()
    assert token["patient"] == "pat-0005" and "patient/*.rs" in token["scope"].split()
