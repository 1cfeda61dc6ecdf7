"""A vendor without a BAA through a running gateway and the demo EHR (issue 9, compliance-controls A.1):
its reads are answered de-identified with the HIPAA safe-harbor preset, over what its data contract does
(even a contract that keeps names), its writes and identifying searches are refused with the reason, and
a BAA restores identified data."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from fixtures.gateway_stack import Stack, running_stack
from phigate.adapters.sql.vendor_evidence import new_id
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.audit.events import AuditEvent
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.types import VendorId
from phigate.vendors.agreements import BAA_CLAUSES, Agreement, AgreementKind
from phigate.vendors.evidence import Evidence, EvidenceKind

V = VendorId("test-vendor")
SCOPES = "system/Patient.rs system/Observation.rs system/Observation.c"
NO_BAA = "No HIPAA business associate agreement on file; no PHI may be disclosed (de-identified data only)"
# The canary patient's direct identifiers in the demo EHR: none may leave.
CANARY = ("Testpatient", "Canary", "M0000001", "999-00-0001", "ACME000000001", "555-0100",
          "canary.testpatient@", "1 Canary Lane", "Springfield", "62701", "pat-canary")  # fmt: skip
FULL_DATE = re.compile(rb'"\d{4}-\d{2}')  # any date or time more precise than a year
CONTRACT = {  # a contract that would let names through: the posture's de-identification still removes them
    "vendors": {"test-vendor": {
        "resources": {"Patient": {}, "Observation": {"interactions": ["read", "search", "create"]}},
        "masking": {"rules": [{"path": "Patient.name", "method": "keep"}]},
    }},
}  # fmt: skip


def soc2() -> Evidence:
    today = datetime.now(UTC).date()
    return Evidence(
        id=new_id("ev"), vendor_id=V, kind=EvidenceKind.soc2_type2, recorded_at=datetime.now(UTC),
        issuer="Auditor LLP", period_start=date(today.year - 1, 1, 1),
        period_end=date(today.year - 1, 12, 31),
    )  # fmt: skip


class Caller:
    def __init__(self, stack: Stack, http: httpx.AsyncClient, creds: dict[str, Any]) -> None:
        self.stack, self.http, self.creds = stack, http, creds
        self.bearer: dict[str, str] = {}

    async def sign_in(self) -> None:
        form = {"grant_type": "client_credentials", "scope": SCOPES, "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(self.creds)}  # fmt: skip
        issued = await self.http.post(self.stack.public + "/oauth2/token", data=form)
        assert issued.status_code == 200, issued.text
        self.bearer = {"authorization": f"Bearer {issued.json()['access_token']}"}

    async def get(self, path: str) -> httpx.Response:
        return await self.http.get(self.stack.public + "/fhir" + path, headers=self.bearer)


def diagnostics(reply: httpx.Response) -> str:
    return str(reply.json()["issue"][0]["diagnostics"])


async def test_a_vendor_without_a_baa_gets_de_identified_reads_only(tmp_path: Path) -> None:
    async with running_stack(tmp_path, contracts=CONTRACT) as stack:
        assert stack.node.evidence is not None
        seen: list[AuditEvent] = []
        stack.node.evidence.trail.observers.append(seen.append)
        creds = await stack.register("cohort", SCOPES)
        risk = SqlVendorRisk(stack.node.services.db, stack.node.services.keyring)
        await risk.documents.add_evidence(soc2(), None, "test")  # assessed, certified, but no BAA
        verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
        async with httpx.AsyncClient(verify=verify, timeout=15) as http:
            caller = Caller(stack, http, creds)
            await caller.sign_in()

            patients = await caller.get("/Patient?_count=50")
            assert patients.status_code == 200, patients.text
            bundle = patients.json()
            assert len(bundle["entry"]) == 50
            assert not [word for word in CANARY if word.encode() in patients.content]
            assert not FULL_DATE.search(patients.content), FULL_DATE.search(patients.content)
            for entry in bundle["entry"]:
                patient = entry["resource"]
                assert not {"name", "identifier", "telecom", "contact", "text"} & patient.keys()
                assert all(set(a) <= {"state", "postalCode", "country"} for a in patient.get("address", []))
                assert len(patient["id"]) == 64  # a pseudonym
                # a year, or nothing when it would show an age over 89 (safe harbor's (C))
                assert len(patient.get("birthDate", "1900")) == 4, patient
                assert {s["code"] for s in patient["meta"]["security"]} >= {"REDACTED", "PSEUDED"}
                assert entry["fullUrl"].startswith(stack.public + "/fhir/Patient/")  # never the upstream's
            assert sum("birthDate" in e["resource"] for e in bundle["entry"]) > 25  # most keep their year

            # One person keeps one pseudonym for this vendor, so their records still join.
            read = await caller.get("/Patient/pat-canary")
            assert read.status_code == 200 and not [w for w in CANARY if w.encode() in read.content]
            pseudonym = read.json()["id"]
            observations = await caller.get("/Observation?patient=pat-canary&_count=20")
            assert observations.status_code == 200 and not FULL_DATE.search(observations.content)
            found = [e["resource"] for e in observations.json()["entry"]]
            assert found and {o["subject"]["reference"] for o in found} == {f"Patient/{pseudonym}"}
            assert any(
                "value" + kind in o for o in found for kind in ("Quantity", "CodeableConcept", "String")
            )

            headers = {**caller.bearer, "content-type": "application/fhir+json"}
            observation = {"resourceType": "Observation", "status": "final", "code": {"text": "heart rate"},
                           "subject": {"reference": "Patient/pat-canary"}}  # fmt: skip
            write = await http.post(stack.public + "/fhir/Observation", content=orjson.dumps(observation),
                                    headers=headers)  # fmt: skip
            assert write.status_code == 403 and diagnostics(write) == f"{NO_BAA}. Writes are refused."
            by_name = await caller.get("/Patient?family=Testpatient")
            assert by_name.status_code == 403
            assert diagnostics(by_name) == f"{NO_BAA}. A search by family would identify a person."

            # A BAA restores identified data (the node re-reads the registry within vendors.cache_seconds).
            await risk.documents.add_agreement(baa(), None, "test")
            deadline = time.monotonic() + 5.5
            while b"Testpatient" not in (read := await caller.get("/Patient/pat-canary")).content:
                assert time.monotonic() < deadline, read.text
                await asyncio.sleep(0.1)
            assert read.json()["id"] == "pat-canary" and read.json()["name"][0]["family"] == "Testpatient"

        # The trail says which replies left de-identified, and by which rules (counts only, no values).
        reads = [e for e in seen if e.action == "search" and e.resource_type == "Patient" and e.status == 200]
        assert reads[0].rules["deidentified"] == "safe-harbor"
        assert any(rule.startswith("safe-harbor.") for rule in reads[0].rules["shaping"]["redacted_by"])
        refused = [e for e in seen if e.action == "create"]
        assert refused[0].status == 403 and refused[0].reason == f"{NO_BAA}. Writes are refused."


def baa() -> Agreement:
    today = datetime.now(UTC).date()
    return Agreement(
        id=new_id("ag"), vendor_id=V, kind=AgreementKind.baa, valid_from=date(today.year - 1, 1, 1),
        valid_until=date(today.year + 2, 12, 31), recorded_at=datetime.now(UTC),
        clauses=frozenset(BAA_CLAUSES),
    )  # fmt: skip
