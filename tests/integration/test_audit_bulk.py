"""A bulk operation ($everything, a huge _count) raises a bulk-operation alert, and the "tighten
rate" reaction holds the client to a lower rate through the traffic guard's control point, audited."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx

from fixtures.gateway_stack import running_stack
from phigate.adapters.sql.audit import AuditQuery
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE


async def test_everything_alerts_and_the_client_rate_is_tightened(tmp_path: Path) -> None:
    audit = {
        "flush_interval_seconds": 0.05,
        "detectors": {"bulk_page_size": 500},
        "reactions": {
            "tighten_rate": ["bulk-operation"],
            "tightened_rate": "2/minute",
            "tighten_seconds": 60,
        },
    }
    async with running_stack(tmp_path, audit=audit) as stack:
        creds = await stack.register("bulk-app", "system/Patient.rs")
        evidence = stack.node.evidence
        assert evidence is not None
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=stack.pki.ca_cert)) as client:
            form = {
                "grant_type": "client_credentials",
                "scope": creds["scopes"],
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(creds),
            }
            bearer = (await client.post(creds["token_endpoint"], data=form)).json()["access_token"]
            headers = {"authorization": f"Bearer {bearer}"}
            for _ in range(5):  # no bulk call: the client's own limits apply, nothing alerts
                assert (
                    await client.get(f"{stack.public}/fhir/Patient?_count=5", headers=headers)
                ).status_code == 200
            assert evidence.desk.raised == []
            await client.get(f"{stack.public}/fhir/Patient/pat-0001/$everything", headers=headers)
            for _ in range(100):  # the desk works in its own task: wait (bounded) for the reaction
                reactions = await evidence.store.search(AuditQuery(kind="reaction"))
                if reactions:
                    break
                await asyncio.sleep(0.05)
            statuses = [
                (await client.get(f"{stack.public}/fhir/Patient/pat-0002", headers=headers)).status_code
                for _ in range(4)
            ]
        [alert] = evidence.desk.raised
        assert alert.detector == "bulk-operation" and alert.client_id == creds["client_id"]
        assert "$everything" in alert.explanation
        [reaction] = [r.event for r in reactions]
        assert reaction["action"] == "client.rate_tightened"
        assert reaction["rules"]["rate"] == "2 requests/minute" and reaction["rules"]["seconds"] == 60
        assert 429 in statuses and statuses[0] == 200  # held to 2/minute from the reaction on


async def test_a_large_count_alerts(tmp_path: Path) -> None:
    audit = {"flush_interval_seconds": 0.05, "detectors": {"bulk_page_size": 500}}
    async with running_stack(tmp_path, audit=audit) as stack:
        creds = await stack.register("paging-app", "system/Patient.rs")
        evidence = stack.node.evidence
        assert evidence is not None
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=stack.pki.ca_cert)) as client:
            form = {
                "grant_type": "client_credentials",
                "scope": creds["scopes"],
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(creds),
            }
            bearer = (await client.post(creds["token_endpoint"], data=form)).json()["access_token"]
            reply = await client.get(
                f"{stack.public}/fhir/Patient?_count=5000", headers={"authorization": f"Bearer {bearer}"}
            )
        [alert] = evidence.desk.raised
        assert alert.explanation.startswith("bulk operation _count=5000 (threshold 500)")
        served = "served" if reply.status_code == 200 else f"refused ({reply.status_code})"
        assert alert.explanation.endswith(served)
