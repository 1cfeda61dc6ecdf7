"""Access review through a running gateway: use is read from the audit trail, an unused scope is flagged,
revoking it removes it from new tokens and denies it on the token already issued; every step is an
audit event. A vendor whose security review is overdue keeps its scopes but gets no new one (A.7)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.gateway_stack import Stack, running_stack
from phigate.adapters.sql.audit import AuditQuery
from phigate.adapters.sql.vendor_evidence import new_id
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.admin.reviews import ReviewAdmin
from phigate.asgi.admin_assembly import trail_sink
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.types import VendorId
from phigate.vendors.agreements import BAA_CLAUSES, Agreement, AgreementKind
from phigate.vendors.assessment import assess
from phigate.vendors.evidence import Evidence, EvidenceKind, add_months
from phigate.vendors.grants import GrantRefused
from phigate.vendors.reviews import Decision

SCOPES = "system/Observation.rs system/Patient.r"
OBSERVATIONS = "/fhir/Observation?patient=pat-canary"
PATIENT = "/fhir/Patient/pat-canary"
VENDOR = VendorId("test-vendor")
GOOD_ANSWERS = {
    "certification": "both", "hipaa_compliance": "yes", "gdpr_compliance": "not_applicable", "tls": "1.3",
    "encryption_at_rest": "aes-256", "mfa": "yes", "access_control": "yes", "logging": "yes",
    "incident_response": "yes", "breach_notice": "yes", "subprocessors": "yes", "data_location": "contracted",
}  # fmt: skip
Token = Callable[[str], Awaitable[dict[str, Any]]]


def admin(stack: Stack, clock: Callable[[], float] = time.time) -> ReviewAdmin:
    node = stack.node
    assert node.evidence is not None
    services = node.services
    return ReviewAdmin(
        services.db, services.keyring, stack.settings, trail_sink(node.evidence.trail), clock=clock
    )


async def audited(stack: Stack, prefix: str) -> list[dict[str, Any]]:
    assert stack.node.evidence is not None
    await stack.node.evidence.trail.writer.drain()
    found = await stack.node.evidence.store.search(AuditQuery(vendor_id=VENDOR))
    return [e.event for e in found if str(e.event["action"]).startswith(prefix)]


def token_of(http: httpx.AsyncClient, stack: Stack, creds: dict[str, Any]) -> Token:
    async def token(scope: str) -> dict[str, Any]:
        form = {
            "grant_type": "client_credentials", "scope": scope,
            "client_assertion_type": ASSERTION_TYPE, "client_assertion": client_assertion(creds),
        }  # fmt: skip
        reply = await http.post(stack.public + "/oauth2/token", data=form)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    return token


async def status_within(http: httpx.AsyncClient, url: str, headers: dict[str, str], wanted: int) -> int:
    deadline, status = time.monotonic() + 5.5, 0
    while time.monotonic() < deadline and status != wanted:  # until the node re-reads the registry
        status = (await http.get(url, headers=headers)).status_code
        await asyncio.sleep(0.1)
    return status


@pytest.mark.slow
async def test_an_unused_scope_is_flagged_from_the_trail_and_its_revocation_takes_effect(
    tmp_path: Path,
) -> None:
    vendors = {"unmanaged_vendors": "allow"}
    async with running_stack(tmp_path, vendors=vendors, audit={"flush_interval_seconds": 0.05}) as stack:
        creds = await stack.register("review-lab", SCOPES)
        async with httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=stack.pki.ca_cert), timeout=15
        ) as http:
            token = token_of(http, stack, creds)
            bearer = {"authorization": f"Bearer {(await token(SCOPES))['access_token']}"}
            for _ in range(2):
                assert (await http.get(stack.public + PATIENT, headers=bearer)).status_code == 200
            assert stack.node.evidence is not None
            await stack.node.evidence.trail.writer.drain()

            review = await admin(stack).start("Privacy Officer")
            items = {item.scope: item for item in review.items}
            assert items["system/Observation.rs"].flagged and items["system/Observation.rs"].uses == 0
            used = items["system/Patient.r"]
            assert (used.flagged, used.uses, used.by_type, used.by_interaction) == (
                False, 2, {"Patient": 2}, {"read": 2},
            )  # fmt: skip
            # The same trail, read 91 days later: the use falls out of the period, every scope is flagged.
            later = await admin(stack, lambda: time.time() + 91 * 86400).start("Privacy Officer")
            assert all(item.flagged for item in later.items)

            assert (await http.get(stack.public + OBSERVATIONS, headers=bearer)).status_code == 200
            await admin(stack).decide(
                review.id, "review-lab", "system/Observation.rs", Decision.revoke, "DPO"
            )
            assert (await token(SCOPES))["scope"] == "system/Patient.r"  # new tokens lack the revoked scope
            assert await status_within(http, stack.public + OBSERVATIONS, bearer, 403) == 403
            assert (await http.get(stack.public + PATIENT, headers=bearer)).status_code == 200

        events = await audited(stack, "vendor.review.")
        assert [(e["action"], e["rules"]["actor"], e["rules"]["review_id"]) for e in events] == [
            ("vendor.review.start", "Privacy Officer", review.id),
            ("vendor.review.revoke", "DPO", review.id),
            ("vendor.review.start", "Privacy Officer", later.id),  # recorded on its own (later) clock
        ]
        revoked = events[1]
        assert (revoked["client_id"], revoked["rules"]["scope"], revoked["rules"]["decision"]) == (
            "review-lab", "system/Observation.rs", "revoke",
        )  # fmt: skip
        assert events[0]["rules"]["flagged"] == 1 and events[0]["kind"] == "security"


async def approved_but_review_overdue(stack: Stack) -> None:
    """SOC 2 current, BAA in force, low risk; the security review was due yesterday."""
    now = datetime.now(UTC)
    today = now.date()
    risk = SqlVendorRisk(stack.node.services.db, stack.node.services.keyring)
    period_end = add_months(today, -3)
    await risk.documents.add_evidence(
        Evidence(id=new_id("ev"), vendor_id=VENDOR, kind=EvidenceKind.soc2_type2, recorded_at=now,
                 issuer="Auditor LLP", period_start=add_months(period_end, -12) + timedelta(days=1),
                 period_end=period_end),
        None, "test",
    )  # fmt: skip
    await risk.documents.add_agreement(
        Agreement(id=new_id("ag"), vendor_id=VENDOR, kind=AgreementKind.baa, valid_from=date(2025, 1, 1),
                  valid_until=add_months(today, 24), recorded_at=now, clauses=frozenset(BAA_CLAUSES),
                  breach_notice_hours=24),
        None, "test",
    )  # fmt: skip
    assessment = assess(new_id("as"), VENDOR, GOOD_ANSWERS, "ciso", now - timedelta(days=800))
    await risk.add_assessment(replace(assessment, review_due=today - timedelta(days=1)), "test")


@pytest.mark.slow
async def test_an_overdue_security_review_keeps_existing_scopes_and_refuses_new_ones(tmp_path: Path) -> None:
    async with running_stack(tmp_path, audit={"flush_interval_seconds": 0.05}) as stack:
        creds = await stack.register("review-lab", "system/Patient.r")
        await approved_but_review_overdue(stack)
        async with httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=stack.pki.ca_cert), timeout=15
        ) as http:
            issued = await token_of(http, stack, creds)("system/Patient.r")
            bearer = {"authorization": f"Bearer {issued['access_token']}"}
            assert (
                await status_within(http, stack.public + PATIENT, bearer, 200) == 200
            )  # grace: still served

        with pytest.raises(GrantRefused) as refused:
            await admin(stack).grant("review-lab", "system/Observation.rs", "DPO")
        assert refused.value.status == 409 and "overdue since" in refused.value.message
        assert (await stack.node.services.clients.get(creds["client_id"])).scopes == "system/Patient.r"  # type: ignore[union-attr]
        [event] = await audited(stack, "vendor.scope.grant")
        assert (event["outcome"], event["status"], event["rules"]["state"]) == ("conflict", 409, "grace")
        assert event["rules"]["review_due"] == (date.today() - timedelta(days=1)).isoformat()
