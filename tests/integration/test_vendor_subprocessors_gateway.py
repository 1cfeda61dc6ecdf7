"""Sub-processor changes on two gateway nodes sharing PostgreSQL and Redis (compliance-controls A.4).

Adding a sub-processor through the admin API notifies the controller (the signed alert webhook, and the
audit trail) and makes the vendor pending_review; within 5 seconds both nodes hold its access where it was:
its existing client keeps what it had, a scope added since is not granted, a client registered since is
refused with the reason. Approval restores access on both nodes; an objection ends a change the same way.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import ssl
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from sqlalchemy import update

from fixtures.gateway_stack import Stack, free_port, running_stack
from fixtures.postgres import throwaway_database
from phigate.adapters.sql.schema import oauth_clients
from phigate.adapters.sql.vendor_evidence import new_id
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.audit.events import AuditEvent
from phigate.cli.token import client_assertion
from phigate.monitor.alerts import signature
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.types import VendorId
from phigate.vendors.agreements import BAA_CLAUSES, Agreement, AgreementKind
from phigate.vendors.evidence import Evidence, EvidenceKind

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
V = VendorId("test-vendor")
READ = "system/Patient.r"
WIDER = "system/Patient.r system/Observation.rs"
PROPAGATION = 5.5  # the bound (5 s) plus a scheduling margin
HOOK_SECRET = "subprocessor-hook-secret"
PROPOSAL = {"name": "CloudStore", "service": "object storage", "data_categories": ["lab-results"],
            "locations": ["US", "IN"]}  # fmt: skip
Received = list[tuple[dict[str, str], bytes]]


@pytest.fixture
async def hook() -> AsyncIterator[tuple[str, Received]]:
    received: Received = []

    async def handle(request: web.Request) -> web.Response:
        received.append(({k.lower(): v for k, v in request.headers.items()}, await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        await runner.cleanup()


def managed() -> tuple[Evidence, Agreement]:
    today, now = datetime.now(UTC).date(), datetime.now(UTC)
    soc2 = Evidence(
        id=new_id("ev"), vendor_id=V, kind=EvidenceKind.soc2_type2, recorded_at=now, issuer="Auditor LLP",
        period_start=date(today.year - 1, 1, 1), period_end=date(today.year - 1, 12, 31),
    )  # fmt: skip
    baa = Agreement(
        id=new_id("ag"), vendor_id=V, kind=AgreementKind.baa, valid_from=date(today.year - 1, 1, 1),
        valid_until=date(today.year + 2, 12, 31), recorded_at=now, clauses=frozenset(BAA_CLAUSES),
    )  # fmt: skip
    return soc2, baa


class Party:
    """One client of the vendor: a token with ``WIDER`` (what its registration grants), reads on a node."""

    def __init__(self, stack: Stack, http: httpx.AsyncClient, creds: dict[str, Any]) -> None:
        self.stack, self.http, self.creds = stack, http, creds

    async def bearer(self) -> dict[str, str]:
        form = {"grant_type": "client_credentials", "scope": WIDER, "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(self.creds)}  # fmt: skip
        issued = await self.http.post(self.stack.public + "/oauth2/token", data=form)
        assert issued.status_code == 200, issued.text
        return {"authorization": f"Bearer {issued.json()['access_token']}"}

    async def reads(self, node: int) -> tuple[int, int]:
        """(Patient read, Observation search) status codes on ``node``."""
        headers, base = await self.bearer(), self.stack.publics[node] + "/fhir"
        patient = await self.http.get(base + "/Patient/pat-canary", headers=headers)
        observations = await self.http.get(base + "/Observation?patient=pat-canary", headers=headers)
        self.last = (patient, observations)
        return patient.status_code, observations.status_code


async def on_every_node(party: Party, wanted: tuple[int, int]) -> None:
    deadline = time.monotonic() + PROPAGATION
    seen: list[tuple[int, int]] = []
    while time.monotonic() < deadline:
        seen = [await party.reads(node) for node in (0, 1)]
        if seen == [wanted, wanted]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not {wanted} on every node within {PROPAGATION} s: {seen}")


async def widen(stack: Stack, client_id: str) -> None:
    """A scope added to the client's registration (as an administrator would, after the proposal)."""
    statement = update(oauth_clients).where(oauth_clients.c.client_id == client_id).values(scopes=WIDER)
    async with stack.node.services.db.begin() as connection:
        await connection.execute(statement)


def diagnostics(reply: httpx.Response) -> str:
    return str(reply.json()["issue"][0]["diagnostics"])


async def test_a_sub_processor_change_holds_access_on_both_nodes_until_the_controller_decides(
    tmp_path: Path, hook: tuple[str, Received], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = hook
    monkeypatch.setenv("PHIGATE_TEST_HOOK_SECRET", HOOK_SECRET)
    token = secrets.token_urlsafe(32)
    (tmp_path / "admin.token").write_text(token)
    audit = {"webhook_url": url, "webhook_secret_env": "PHIGATE_TEST_HOOK_SECRET"}
    async with (
        throwaway_database() as database,
        running_stack(
            tmp_path, nodes=2, shared_state_url="redis://127.0.0.1:6379/0", storage={"url": database},
            admin_api={"token_file": str(tmp_path / "admin.token")}, audit=audit,
            vendors={"unmanaged_vendors": "deny"},
        ) as stack,
    ):  # fmt: skip
        assert stack.node.evidence is not None
        seen: list[AuditEvent] = []
        stack.node.evidence.trail.observers.append(seen.append)
        early_creds = await stack.register("early-lab", READ)
        registry = SqlVendorRisk(stack.node.services.db, stack.node.services.keyring)
        soc2, baa = managed()
        await registry.documents.add_evidence(soc2, None, "test")
        await registry.documents.add_agreement(baa, None, "test")
        admin = {"authorization": f"Bearer {token}"}
        verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
        async with httpx.AsyncClient(verify=verify, timeout=15) as http:
            early = Party(stack, http, early_creds)
            await on_every_node(early, (200, 403))  # Observation.s is not registered yet

            # 1. The change: the controller is notified, the vendor is pending review.
            base = stack.admin + "/admin/vendors/test-vendor/subprocessors"
            proposed = await http.post(base, json=PROPOSAL, headers=admin)
            assert proposed.status_code == 201, proposed.text
            change = proposed.json()
            assert (change["status"], change["change"], change["standing"]) == (
                "pending",
                "added",
                "pending_review",
            )
            notice = await until_received(received, "vendor.subprocessor")
            headers, body = notice
            assert hmac.compare_digest(
                headers["x-phigate-signature"],
                signature(HOOK_SECRET.encode(), headers["x-phigate-timestamp"], body),
            )
            alert = orjson.loads(body)
            assert alert["vendor_id"] == "test-vendor" and "CloudStore added" in alert["explanation"]
            assert change["objection_until"] in alert["explanation"]

            # 2. Held where it was, on both nodes: a scope added since is not granted, a new client waits.
            await widen(stack, "early-lab")
            late = Party(stack, http, await stack.register("late-lab", WIDER))
            await on_every_node(early, (200, 403))
            await on_every_node(late, (403, 403))
            reason = diagnostics(late.last[0])
            assert reason.startswith(
                f"Sub-processor CloudStore added {date.today().isoformat()}; pending approval"
            )
            assert reason.endswith("A client registered since the change was proposed waits for approval.")
            listed = await http.get(base, headers=admin)
            assert [c["id"] for c in listed.json()["subprocessors"]] == [change["id"]]

            # 3. Approval restores access on both nodes (the registration's scopes now count).
            approved = await http.post(f"{base}/{change['id']}/approve", headers=admin)
            assert approved.status_code == 200 and approved.json()["standing"] == "approved"
            again = await http.post(f"{base}/{change['id']}/approve", headers=admin)
            assert again.status_code == 400 and "decided already" in again.json()["message"]
            await on_every_node(early, (200, 200))
            await on_every_node(late, (200, 200))

            # 4. An objection ends a change too: the approved list stays as it was.
            mailer = {**PROPOSAL, "name": "Mailer", "service": "e-mail delivery"}
            second = (await http.post(base, json=mailer, headers=admin)).json()
            shown = (await http.get(stack.admin + "/admin/vendors/test-vendor", headers=admin)).json()
            assert shown["standing"] == "pending_review" and shown["reasons"][0].startswith(
                "Sub-processor Mailer"
            )
            latest = Party(stack, http, await stack.register("latest-lab", WIDER))
            await on_every_node(late, (200, 200))  # registered before this change: held where it is
            await on_every_node(latest, (403, 403))
            no_reason = await http.post(f"{base}/{second['id']}/object", json={}, headers=admin)
            assert no_reason.status_code == 400 and no_reason.json()["message"].startswith("reason")
            objection = {"reason": "processes data outside the approved countries"}
            objected = await http.post(f"{base}/{second['id']}/object", json=objection, headers=admin)
            assert objected.status_code == 200 and objected.json()["status"] == "objected"
            await on_every_node(latest, (200, 200))

        actions = [
            (e.action, e.rules.get("actor")) for e in seen if e.action.startswith("vendor.subprocessor.")
        ]
        assert actions == [
            ("vendor.subprocessor.propose", "admin-api"), ("vendor.subprocessor.approve", "admin-api"),
            ("vendor.subprocessor.propose", "admin-api"), ("vendor.subprocessor.object", "admin-api"),
        ]  # fmt: skip
        alerts = [e for e in seen if e.action == "vendor.subprocessor" and e.kind.value == "alert"]
        assert len(alerts) == 2 and all(e.vendor_id == "test-vendor" for e in alerts)
        standings = [e.rules["standing"] for e in seen if e.action == "vendor.posture"]
        assert "pending_review" in standings and standings[-1] == "approved"


async def until_received(
    received: Received, detector: str, within: float = 5.0
) -> tuple[dict[str, str], bytes]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for headers, body in received:
            if orjson.loads(body)["detector"] == detector:
                return headers, body
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {detector} alert reached the webhook: {received}")
