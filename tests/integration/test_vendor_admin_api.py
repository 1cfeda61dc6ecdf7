"""The admin API's vendor routes on a running node (issue 9): authentication, posture, incidents,
suspension and reinstatement, JSON errors, the OpenAPI document, and every change in the audit trail."""

from __future__ import annotations

import asyncio
import secrets
import ssl
import time
from pathlib import Path
from typing import Any

import httpx

from fixtures.gateway_stack import Stack, running_stack
from phigate.audit.events import AuditEvent
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE

SCOPES = "system/Patient.r"
PATIENT = "/fhir/Patient/pat-canary"


def trail_of(stack: Stack) -> list[AuditEvent]:
    assert stack.node.evidence is not None
    seen: list[AuditEvent] = []
    stack.node.evidence.trail.observers.append(seen.append)
    return seen


async def read_with_fresh_token(
    http: httpx.AsyncClient, stack: Stack, creds: dict[str, Any]
) -> httpx.Response:
    form = {"grant_type": "client_credentials", "scope": SCOPES, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(creds)}  # fmt: skip
    issued = await http.post(stack.public + "/oauth2/token", data=form)
    if issued.status_code != 200:
        return issued
    bearer = {"authorization": f"Bearer {issued.json()['access_token']}"}
    return await http.get(stack.public + PATIENT, headers=bearer)


async def read_once_reinstated(
    http: httpx.AsyncClient, stack: Stack, creds: dict[str, Any]
) -> httpx.Response:
    """Revocation is to the second (a token issued in a suspension's second stays refused): retry."""
    deadline = time.monotonic() + 3
    reply = await read_with_fresh_token(http, stack, creds)
    while reply.status_code != 200 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        reply = await read_with_fresh_token(http, stack, creds)
    return reply


async def test_the_admin_api_changes_a_vendor_s_access_and_audits_it(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(32)
    (tmp_path / "admin.token").write_text(token + "\n")
    async with running_stack(tmp_path, admin_api={"token_file": str(tmp_path / "admin.token")}) as stack:
        creds = await stack.register("admin-lab", SCOPES)
        seen = trail_of(stack)
        admin = {"authorization": f"Bearer {token}"}
        verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
        async with httpx.AsyncClient(verify=verify, timeout=15) as http:
            listed = await http.get(stack.admin + "/admin/vendors", headers=admin)
            assert listed.status_code == 200
            assert listed.json()["vendors"] == [
                {"id": "test-vendor", "name": "Test Vendor", "standing": "approved", "reasons": []}
            ]
            assert (await read_with_fresh_token(http, stack, creds)).status_code == 200

            reason = {"reason": "security questionnaire overdue"}
            suspended = await http.post(
                stack.admin + "/admin/vendors/test-vendor/suspend", json=reason, headers=admin
            )
            assert suspended.status_code == 200
            assert suspended.json()["standing"] == "suspended"
            refused = await read_with_fresh_token(http, stack, creds)  # the node forgot its cached dossier
            assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
            assert "suspended" in refused.json()["error_description"]

            shown = (await http.get(stack.admin + "/admin/vendors/test-vendor", headers=admin)).json()
            assert shown["standing"] == "suspended" and shown["reasons"]
            assert any(f["item"] == "suspension" and not f["passed"] for f in shown["factors"])

            reinstated = await http.post(stack.admin + "/admin/vendors/test-vendor/reinstate", headers=admin)
            assert reinstated.json()["standing"] == "approved"
            assert (await read_once_reinstated(http, stack, creds)).status_code == 200

            report = {
                "summary": "Credential stuffing against the vendor portal",
                "jurisdictions": ["US", "EU"],
            }
            recorded = await http.post(
                stack.admin + "/admin/vendors/test-vendor/incidents", json=report, headers=admin
            )
            assert recorded.status_code == 201, recorded.text
            incident = recorded.json()
            assert incident["standing"] == "suspended" and incident["source"] == "admin-api"
            assert {c["name"] for c in incident["clocks"]} == {"gdpr", "hipaa"}
            assert (await read_with_fresh_token(http, stack, creds)).status_code != 200

        actions = [(e.action, e.vendor_id) for e in seen if e.action.startswith("vendor.")]
        assert ("vendor.vendor.suspend", "test-vendor") in actions
        assert ("vendor.vendor.reinstate", "test-vendor") in actions
        assert ("vendor.incident.record", "test-vendor") in actions
        suspend = next(e for e in seen if e.action == "vendor.vendor.suspend")
        assert suspend.rules == {"actor": "admin-api"} and suspend.reason == "security questionnaire overdue"
        standings = [e.rules["standing"] for e in seen if e.action == "vendor.posture"]
        assert standings[-3:] == ["suspended", "approved", "suspended"], standings


async def test_the_admin_api_refuses_without_the_token_and_answers_errors_as_json(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(32)
    (tmp_path / "admin.token").write_text(token)
    async with running_stack(tmp_path, admin_api={"token_file": str(tmp_path / "admin.token")}) as stack:
        await stack.register("admin-lab", SCOPES)
        verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
        admin = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(verify=verify, timeout=15) as http:
            for headers in ({}, {"authorization": f"Bearer {token[:-1]}x"}, {"authorization": token}):
                reply = await http.post(stack.admin + "/admin/vendors/test-vendor/suspend",
                                        json={"reason": "x"}, headers=headers)  # fmt: skip
                assert reply.status_code == 401 and reply.json()["error"] == "login"
                assert token not in reply.text
            assert (await http.get(stack.admin + "/admin/vendors/test-vendor", headers=admin)).json()[
                "standing"
            ] == "approved"  # nothing was suspended

            unknown = await http.get(stack.admin + "/admin/vendors/no-such-vendor", headers=admin)
            assert unknown.status_code == 404 and unknown.json()["error"] == "not-found"
            bad_json = await http.post(stack.admin + "/admin/vendors/test-vendor/incidents",
                                       content=b"{not json", headers=admin)  # fmt: skip
            assert (
                bad_json.status_code == 400
                and bad_json.json()["message"] == "The request body is not valid JSON."
            )
            no_summary = await http.post(
                stack.admin + "/admin/vendors/test-vendor/incidents", json={}, headers=admin
            )
            assert no_summary.status_code == 400 and no_summary.json()["message"].startswith("summary")
            mars = {"summary": "x", "jurisdictions": ["MARS"]}
            bad_place = await http.post(
                stack.admin + "/admin/vendors/test-vendor/incidents", json=mars, headers=admin
            )
            assert bad_place.status_code == 400 and "jurisdictions" in bad_place.json()["message"]
            wrong_method = await http.get(stack.admin + "/admin/vendors/test-vendor/suspend", headers=admin)
            assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "not-supported"

            document = (await http.get(stack.admin + "/admin/openapi.json")).json()
            assert document["openapi"].startswith("3.")
            assert set(document["paths"]) == {
                "/admin/launches",
                "/admin/vendors", "/admin/vendors/{vendor_id}", "/admin/vendors/{vendor_id}/incidents",
                "/admin/vendors/{vendor_id}/suspend", "/admin/vendors/{vendor_id}/reinstate",
                "/admin/vendors/{vendor_id}/subprocessors", "/admin/vendors/{vendor_id}/offboard",
                "/admin/vendors/{vendor_id}/subprocessors/{change_id}/approve",
                "/admin/vendors/{vendor_id}/subprocessors/{change_id}/object",
            }  # fmt: skip
            served = {
                r.path for r in stack.node.admin_app.routes if getattr(r, "path", "").startswith("/admin/")
            }
            assert served == set(document["paths"]) | {"/admin/openapi.json"}


async def test_without_an_admin_token_the_admin_api_is_not_served(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
        async with httpx.AsyncClient(verify=verify, timeout=15) as http:
            reply = await http.get(
                stack.admin + "/admin/vendors", headers={"authorization": "Bearer anything"}
            )
            assert reply.status_code == 404
            assert (await http.get(stack.admin + "/metrics")).status_code == 200
