"""The vendor report's traffic, denials and disclosures come from the audit trail of a running gateway."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from fixtures.gateway_stack import running_stack
from phigate.adapters.sql.vendor_usage import SqlAuditUsage
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE

SCOPES = "system/Observation.rs system/Patient.r"


async def test_denials_and_disclosures_per_client_from_the_audit_trail(
    tmp_path: Path, storage_url: str
) -> None:
    async with running_stack(tmp_path, patients=10, storage={"url": storage_url}) as stack:
        creds = await stack.register("report-lab", SCOPES)
        verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
        async with httpx.AsyncClient(verify=verify, timeout=15) as http:
            assertion = client_assertion(creds)
            form = {"grant_type": "client_credentials", "scope": SCOPES,
                    "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}  # fmt: skip
            token = (await http.post(stack.public + "/oauth2/token", data=form)).json()["access_token"]
            bearer = {"authorization": f"Bearer {token}"}
            for path, status in [("/fhir/Patient/pat-canary", 200), ("/fhir/Patient/pat-0001", 200),
                                 ("/fhir/Patient/pat-canary", 200), ("/fhir/Claim", 403),
                                 ("/fhir/Claim", 403)]:  # fmt: skip
                assert (await http.get(stack.public + path, headers=bearer)).status_code == status
            assert (await http.get(stack.public + "/fhir/Patient/pat-canary")).status_code == 401  # no client
        evidence = stack.node.evidence
        assert evidence is not None
        await evidence.trail.writer.drain()

        trail = SqlAuditUsage(stack.node.services.db)
        since = datetime.now(UTC) - timedelta(days=1)
        refusals = await trail.refusals(since, ["report-lab"])
        assert [(r.client_id, r.count) for r in refusals] == [("report-lab", 2)]
        disclosures = await trail.disclosures(since, ["report-lab"])
        assert [(d.client_id, d.disclosures, d.patients) for d in disclosures] == [("report-lab", 3, 2)]
        assert await trail.refusals(since, ["someone-else"]) == []
        assert await trail.disclosures(datetime.now(UTC) + timedelta(minutes=1), ["report-lab"]) == []
