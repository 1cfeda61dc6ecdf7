"""Posture gating on two gateway nodes sharing PostgreSQL and Redis (issue 9, "What must be shown").

Expiring the SOC 2 report (by moving the clock), removing the BAA, or recording an incident changes
the vendor's standing, and both nodes refuse its next request with the reason within 5 seconds;
reinstating restores access (with a fresh token: the old one stays revoked); every change is in the
registry's trail.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.gateway_stack import Stack, running_stack
from fixtures.postgres import throwaway_database
from phigate.adapters.sql.vendor_evidence import new_id
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.types import VendorId
from phigate.vendors.agreements import BAA_CLAUSES, Agreement, AgreementKind
from phigate.vendors.evidence import Evidence, EvidenceKind
from phigate.vendors.incidents import Incident

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
VENDOR = VendorId("test-vendor")
SCOPES = "system/Patient.r system/Observation.rs"
PATIENT = "/fhir/Patient/pat-canary"
PROPAGATION = 5.5  # the bound (5 s) plus a scheduling margin


def soc2(period_end: date) -> Evidence:
    return Evidence(
        id=new_id("ev"),
        vendor_id=VENDOR,
        kind=EvidenceKind.soc2_type2,
        recorded_at=datetime.now(UTC),
        issuer="Auditor LLP",
        period_start=date(period_end.year - 1, period_end.month + 1, 1),
        period_end=period_end,
    )


def baa() -> Agreement:
    return Agreement(
        id=new_id("ag"),
        vendor_id=VENDOR,
        kind=AgreementKind.baa,
        valid_from=date(2025, 1, 1),
        valid_until=date(2030, 12, 31),
        recorded_at=datetime.now(UTC),
        clauses=frozenset(BAA_CLAUSES),
        breach_notice_hours=24,
    )


class Caller:
    def __init__(self, stack: Stack, http: httpx.AsyncClient, creds: dict[str, Any]) -> None:
        self.stack, self.http, self.creds = stack, http, creds

    async def token(self, node: int = 0) -> httpx.Response:
        form = {
            "grant_type": "client_credentials",
            "scope": SCOPES,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(self.creds),
        }
        return await self.http.post(self.stack.publics[node] + "/oauth2/token", data=form)

    async def fresh_token(self) -> str:
        """A new token, once the token endpoint issues one again (a reinstatement propagates too)."""
        deadline = time.monotonic() + PROPAGATION
        reply = await self.token()
        while reply.status_code != 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            reply = await self.token()
        assert reply.status_code == 200, reply.text
        return str(reply.json()["access_token"])

    async def read(self, token: str, node: int) -> httpx.Response:
        return await self.http.get(
            self.stack.publics[node] + PATIENT, headers={"authorization": f"Bearer {token}"}
        )

    async def until_on_every_node(
        self, token: str, done: Callable[[httpx.Response], bool]
    ) -> list[httpx.Response]:
        """Poll both nodes until each answers as ``done`` wants, within the propagation bound."""
        deadline = time.monotonic() + PROPAGATION
        replies: list[httpx.Response] = []
        while time.monotonic() < deadline:
            replies = [await self.read(token, node) for node in (0, 1)]
            if all(done(reply) for reply in replies):
                return replies
            await asyncio.sleep(0.1)
        raise AssertionError(f"not on every node within {PROPAGATION} s: {[r.status_code for r in replies]}")


def refused_with(reason: str) -> Callable[[httpx.Response], bool]:
    def check(reply: httpx.Response) -> bool:
        return reply.status_code == 403 and reason in reply.json()["issue"][0]["diagnostics"]

    return check


def allowed(reply: httpx.Response) -> bool:
    return reply.status_code == 200 and reply.json()["id"] == "pat-canary"


def deidentified(reply: httpx.Response) -> bool:
    return reply.status_code == 200 and "name" not in reply.json() and reply.json()["id"] != "pat-canary"


async def test_standing_changes_reach_both_nodes_and_reinstating_restores_access(tmp_path: Path) -> None:
    async with (
        throwaway_database() as url,
        running_stack(
            tmp_path, nodes=2, shared_state_url="redis://127.0.0.1:6379/0", storage={"url": url}
        ) as stack,
    ):
        creds = await stack.register("posture-lab", SCOPES)
        registry = SqlVendorRisk(stack.node.services.db, stack.node.services.keyring)
        await registry.documents.add_evidence(soc2(date(2026, 3, 31)), None, "test")
        the_baa = baa()
        await registry.documents.add_agreement(the_baa, None, "test")
        verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
        async with httpx.AsyncClient(verify=verify, timeout=15) as http:
            caller = Caller(stack, http, creds)
            token = await caller.fresh_token()
            await caller.until_on_every_node(token, allowed)

            # 1. The clock moves past the SOC 2 report's validity (period end + 12 months).
            later = datetime(2027, 4, 2, tzinfo=UTC).timestamp()
            for node in stack.nodes:
                node.posture_gate.clock = lambda: later
            expired = "SOC 2 report period ended 2026-03-31; access suspended"
            replies = await caller.until_on_every_node(token, refused_with(expired))
            assert replies[0].json()["issue"][0]["diagnostics"] == expired  # the reason, and nothing else
            refused = await caller.token(node=1)
            assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
            assert refused.json()["error_description"] == expired
            for node in stack.nodes:
                node.posture_gate.clock = time.time
            await caller.until_on_every_node(token, allowed)

            # 2. The BAA is removed: no PHI: reads come back de-identified, writes are refused.
            await registry.documents.remove(VENDOR, the_baa.id, "test", datetime.now(UTC))
            await caller.until_on_every_node(token, deidentified)
            bearer = {"authorization": f"Bearer {token}", "content-type": "application/fhir+json"}
            write = await http.post(stack.publics[1] + "/fhir/Observation", content=b"{}", headers=bearer)
            assert refused_with("No HIPAA business associate agreement")(write)
            assert write.json()["issue"][0]["diagnostics"].endswith("Writes are refused.")
            await registry.documents.add_agreement(baa(), None, "test")
            await caller.until_on_every_node(token, allowed)

            # 3. An incident suspends at once and revokes the tokens the vendor's clients hold.
            now = datetime.now(UTC)
            incident = Incident(
                id=new_id("inc"),
                vendor_id=VENDOR,
                summary="Credential leak",
                aware_at=now,
                recorded_at=now,
                jurisdictions=frozenset({"US"}),
            )
            await registry.record_incident(incident, "test")
            day = now.date().isoformat()
            await caller.until_on_every_node(token, refused_with(f"Security incident of {day} is open"))
            assert (await caller.token()).status_code == 400

            # 4. Reinstating restores access for new tokens; the token held during the incident stays revoked.
            await registry.reinstate(VENDOR, "test", datetime.now(UTC))
            await asyncio.sleep(
                1.1
            )  # tokens carry whole seconds: the next one is issued after the revocation
            fresh = await caller.fresh_token()
            await caller.until_on_every_node(fresh, allowed)
            assert [(await caller.read(token, node)).status_code for node in (0, 1)] == [401, 401]

        trail = [event.action for event in await registry.events(VENDOR)]
        assert trail == [
            "evidence.add",
            "agreement.add",
            "document.remove",
            "agreement.add",
            "incident.record",
            "vendor.reinstate",
        ]
