"""A vendor reports an incident through the signed webhook on the public listener (issue 9).

A valid report records the incident once per idempotency key and suspends the vendor (its clients'
next request is refused); a bad signature, a stale timestamp or an unknown vendor is refused with
401 and audited.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from fixtures.gateway_stack import Stack, running_stack
from phigate.adapters.sql.secret_store import SqlSecretStore
from phigate.admin.vendor_webhook import new_webhook_secret
from phigate.audit.events import AuditEvent
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.vendors.webhook import signature

SCOPES = "system/Patient.r"
PATH = "/vendor-webhooks/incidents"


def signed(
    secret: str, body: bytes, key: str, vendor: str = "test-vendor", at: int | None = None
) -> dict[str, str]:
    timestamp = str(at if at is not None else int(time.time()))
    return {
        "x-phigate-vendor": vendor, "x-phigate-timestamp": timestamp, "idempotency-key": key,
        "x-phigate-signature": signature(secret.encode(), timestamp, body),
        "content-type": "application/json",
    }  # fmt: skip


async def token_status(http: httpx.AsyncClient, stack: Stack, creds: dict[str, Any]) -> int:
    form = {"grant_type": "client_credentials", "scope": SCOPES, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(creds)}  # fmt: skip
    return (await http.post(stack.public + "/oauth2/token", data=form)).status_code


async def test_a_signed_report_suspends_the_vendor_once_and_forgeries_are_refused_and_audited(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path) as stack:
        creds = await stack.register("webhook-lab", SCOPES)
        services = stack.node.services
        secret = await new_webhook_secret(SqlSecretStore(services.db, services.keyring), "test-vendor")
        assert stack.node.evidence is not None
        seen: list[AuditEvent] = []
        stack.node.evidence.trail.observers.append(seen.append)
        body = orjson.dumps({"summary": "Ransomware on a file server", "jurisdictions": ["US"]})
        verify = ssl.create_default_context(cafile=stack.pki.ca_cert)
        async with httpx.AsyncClient(verify=verify, timeout=15) as http:
            assert await token_status(http, stack, creds) == 200
            url = stack.public + PATH

            forgeries = [
                (body, signed("not-" + secret, body, "k-1")),  # signed with another secret
                (body + b" ", signed(secret, body, "k-1")),  # the body changed after signing
                (body, signed(secret, body, "k-1", at=int(time.time()) - 301)),  # outside the replay window
                (body, signed(secret, body, "k-1", vendor="no-such-vendor")),
            ]
            for content, headers in forgeries:
                refused = await http.post(url, content=content, headers=headers)
                assert refused.status_code == 401, refused.text
                assert refused.json()["error"] == "login" and secret not in refused.text
                assert "www-authenticate" not in refused.headers
            assert await token_status(http, stack, creds) == 200  # nothing was recorded

            recorded = await http.post(url, content=body, headers=signed(secret, body, "k-1"))
            assert recorded.status_code == 201, recorded.text
            incident = recorded.json()
            assert (incident["source"], incident["standing"]) == ("webhook", "suspended")
            assert await token_status(http, stack, creds) == 400  # unauthorized_client: suspended at once

            again = await http.post(url, content=body, headers=signed(secret, body, "k-1"))
            assert again.status_code == 200 and again.json() == {
                "id": incident["id"],
                "status": "already recorded",
            }
            no_key = await http.post(url, content=body, headers=signed(secret, body, ""))
            assert no_key.status_code == 400 and "Idempotency-Key" in no_key.json()["message"]
            assert (await http.get(url)).status_code == 405

        refusals = [e for e in seen if e.action == "vendor.webhook.refused"]
        assert [e.reason for e in refusals] == [
            "the signature does not match",
            "the signature does not match",
            "the timestamp is more than 300 seconds from the gateway's clock",
            "no webhook secret is set for the vendor",
        ]
        assert all(e.status == 401 and e.source_ip == "127.0.0.1" for e in refusals)
        records = [e for e in seen if e.action == "vendor.incident.record"]
        assert len(records) == 1 and records[0].rules == {"actor": "webhook:test-vendor"}
        incidents = await stack.node.vendor_admin.risk.incidents()
        assert [i.id for i in incidents] == [incident["id"]]
