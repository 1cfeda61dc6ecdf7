"""Offboarding through the admin API on a running node (compliance-controls A.10, A.11): refused without
the return-or-destroy attestation; with it the vendor is terminated at once: its token stops working, its
client gets no new one, its standing says why, and the change is in the audit trail."""

from __future__ import annotations

import base64
import hashlib
import secrets
import ssl
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from fixtures.gateway_stack import Stack, running_stack
from phigate.adapters.sql.vendor_evidence import new_id
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.audit.events import AuditEvent
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.types import VendorId
from phigate.vendors.agreements import BAA_CLAUSES, Agreement, AgreementKind
from phigate.vendors.evidence import Evidence, EvidenceKind

SCOPES = "system/Patient.r"
PATIENT = "/fhir/Patient/pat-canary"
ATTESTATION = b"%PDF-1.7 Certificate of destruction: every copy of the data was destroyed"


def soc2() -> Evidence:
    year = datetime.now(UTC).year
    return Evidence(
        id=new_id("ev"), vendor_id=VendorId("test-vendor"), kind=EvidenceKind.soc2_type2,
        recorded_at=datetime.now(UTC), issuer="Auditor LLP", period_start=date(year - 1, 1, 1),
        period_end=date(year - 1, 12, 31),
    )  # fmt: skip


def baa() -> Agreement:
    today = datetime.now(UTC).date()
    return Agreement(
        id=new_id("ag"), vendor_id=VendorId("test-vendor"), kind=AgreementKind.baa,
        valid_from=date(today.year - 1, 1, 1), valid_until=date(today.year + 2, 12, 31),
        recorded_at=datetime.now(UTC), clauses=frozenset(BAA_CLAUSES),
    )  # fmt: skip


async def token(http: httpx.AsyncClient, stack: Stack, creds: dict[str, Any]) -> httpx.Response:
    form = {"grant_type": "client_credentials", "scope": SCOPES, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(creds)}  # fmt: skip
    return await http.post(stack.public + "/oauth2/token", data=form)


def offboarding(content: bytes | None) -> dict[str, Any]:
    if content is None:
        return {"reason": "contract ended"}
    return {
        "reason": "contract ended",
        "attestation": {
            "disposition": "returned_and_destroyed", "signed_by": "Jo Bloggs, CISO",
            "signed_on": datetime.now(UTC).date().isoformat(),
            "file": {"name": "destruction.pdf", "content_base64": base64.b64encode(content).decode()},
        },
    }  # fmt: skip


async def test_offboarding_needs_the_attestation_and_ends_access_at_once(tmp_path: Path) -> None:
    admin_token = secrets.token_urlsafe(32)
    (tmp_path / "admin.token").write_text(admin_token)
    async with running_stack(tmp_path, admin_api={"token_file": str(tmp_path / "admin.token")}) as stack:
        assert stack.node.evidence is not None
        seen: list[AuditEvent] = []
        stack.node.evidence.trail.observers.append(seen.append)
        creds = await stack.register("leaving-lab", SCOPES)
        documents = SqlVendorRisk(stack.node.services.db, stack.node.services.keyring).documents
        await documents.add_evidence(soc2(), None, "test")
        await documents.add_agreement(baa(), None, "test")
        admin = {"authorization": f"Bearer {admin_token}"}
        url = stack.admin + "/admin/vendors/test-vendor/offboard"
        verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
        async with httpx.AsyncClient(verify=verify, timeout=15) as http:
            issued = await token(http, stack, creds)
            bearer = {"authorization": f"Bearer {issued.json()['access_token']}"}
            assert (await http.get(stack.public + PATIENT, headers=bearer)).status_code == 200

            refused = await http.post(url, json=offboarding(None), headers=admin)
            assert refused.status_code == 400
            assert refused.json()["message"] == (
                "attestation: a vendor is terminated only with a return-or-destroy attestation "
                "(a signed file)"
            )
            assert (await http.get(stack.public + PATIENT, headers=bearer)).status_code == 200  # unchanged
            too_big = await http.post(url, content=b"{" + b" " * (9 * 1024 * 1024) + b"}", headers=admin)
            assert too_big.status_code == 413

            ended = await http.post(url, json=offboarding(ATTESTATION), headers=admin)
            assert ended.status_code == 200, ended.text
            result = ended.json()
            assert (result["status"], result["clients_disabled"]) == ("terminated", 1)
            assert result["file_sha256"] == hashlib.sha256(ATTESTATION).hexdigest()
            assert result["standing"]["standing"] == "terminated"

            gone = await http.get(stack.public + PATIENT, headers=bearer)  # the same token, at once
            assert gone.status_code in (401, 403), gone.text
            assert (await token(http, stack, creds)).status_code in (400, 401)  # no new token either
            shown = (await http.get(stack.admin + "/admin/vendors/test-vendor", headers=admin)).json()
            assert (shown["status"], shown["standing"]) == ("terminated", "terminated")
            assert shown["reasons"][0].startswith("Vendor offboarded on ")
            again = await http.post(url, json=offboarding(ATTESTATION), headers=admin)
            assert again.status_code == 400 and "cannot become terminated" in again.json()["message"]
            revived = await http.post(stack.admin + "/admin/vendors/test-vendor/reinstate", headers=admin)
            assert revived.status_code == 400 and "cannot become active" in revived.json()["message"]

        offboarded = [e for e in seen if e.action == "vendor.vendor.offboard"]
        assert len(offboarded) == 1 and offboarded[0].rules == {"actor": "admin-api"}
        assert "1 client(s) disabled, tokens revoked" in (offboarded[0].reason or "")
        assert ATTESTATION.decode() not in str([e.reason for e in seen])
