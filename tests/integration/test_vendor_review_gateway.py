"""Access review through a running gateway: use is recorded, an unused scope is flagged, revoking it
removes it from new tokens and denies it on the token already issued."""

from __future__ import annotations

import asyncio
import ssl
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from fixtures.gateway_stack import running_stack
from phigate.adapters.sql.vendor_evidence import new_id
from phigate.adapters.sql.vendor_reviews import SqlAccessReviews
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.adapters.sql.vendor_usage import SqlClientUsage
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.types import VendorId
from phigate.vendors.reviews import Decision, start_review

SCOPES = "system/Observation.rs system/Patient.r"
OBSERVATIONS = "/fhir/Observation?patient=pat-canary"


async def test_an_unused_scope_is_flagged_and_its_revocation_takes_effect(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        creds = await stack.register("review-lab", SCOPES)
        verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
        async with httpx.AsyncClient(verify=verify, timeout=15) as http:

            async def token() -> dict[str, str]:
                form = {
                    "grant_type": "client_credentials", "scope": SCOPES,
                    "client_assertion_type": ASSERTION_TYPE, "client_assertion": client_assertion(creds),
                }  # fmt: skip
                reply = await http.post(stack.public + "/oauth2/token", data=form)
                assert reply.status_code == 200, reply.text
                return dict(reply.json())

            issued = await token()
            bearer = {"authorization": f"Bearer {issued['access_token']}"}
            assert (
                await http.get(stack.public + "/fhir/Patient/pat-canary", headers=bearer)
            ).status_code == 200
            assert (
                await http.get(stack.public + "/fhir/Patient/pat-canary", headers=bearer)
            ).status_code == 200
            await stack.node.usage.flush()

            db = stack.node.services.db
            uses = await SqlClientUsage(db).uses()
            now = datetime.now(UTC)
            review = start_review(
                new_id("rev"),
                await stack.node.services.clients.list(),
                uses,
                now,
                unused_days=90,
                due_days=14,
            )
            items = {item.scope: item for item in review.items}
            assert items["system/Observation.rs"].flagged and items["system/Observation.rs"].uses == 0
            used = items["system/Patient.r"]
            assert (used.flagged, used.uses, used.by_type) == (False, 2, {"Patient": 2})
            # The same use, seen 91 days later, is stale: flagged too.
            later = start_review("rev-later", await stack.node.services.clients.list(), uses,
                                 now + timedelta(days=91), unused_days=90, due_days=14)  # fmt: skip
            assert all(item.flagged for item in later.items)

            reviews = SqlAccessReviews(db)
            await reviews.add(review, "test")
            assert (await http.get(stack.public + OBSERVATIONS, headers=bearer)).status_code == 200
            await reviews.decide(
                review.id, "review-lab", "system/Observation.rs", Decision.revoke, "Privacy Officer", now
            )

            assert (await token())["scope"] == "system/Patient.r"  # new tokens lack the revoked scope
            deadline, status = time.monotonic() + 5.5, 200
            while time.monotonic() < deadline and status != 403:  # the old token, once the node re-reads
                status = (await http.get(stack.public + OBSERVATIONS, headers=bearer)).status_code
                await asyncio.sleep(0.1)
            assert status == 403
            assert (
                await http.get(stack.public + "/fhir/Patient/pat-canary", headers=bearer)
            ).status_code == 200

        trail = await SqlVendorRisk(db, stack.node.services.keyring).events(VendorId("test-vendor"))
        assert [(e.action, e.actor) for e in trail] == [
            ("review.start", "test"),
            ("review.revoke", "Privacy Officer"),
        ]
