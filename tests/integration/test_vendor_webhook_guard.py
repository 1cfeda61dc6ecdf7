"""The vendor incident webhook is not outside the traffic guard (issue 9): bodies are bounded, reports are
limited per source address (before the signature is checked) and per vendor (after), a denied address is
refused, and a captured signed report cannot be replayed under another idempotency key."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import httpx
import orjson

from fixtures.gateway_stack import Stack, running_stack
from phigate.adapters.sql.secret_store import SqlSecretStore
from phigate.admin.vendor_webhook import new_webhook_secret
from phigate.audit.events import AuditEvent
from phigate.vendors.webhook import signature

PATH = "/vendor-webhooks/incidents"
BODY = orjson.dumps({"summary": "Ransomware on a file server", "jurisdictions": ["US"]})


def signed(secret: str, key: str, body: bytes = BODY, at: int | None = None) -> dict[str, str]:
    timestamp = str(at if at is not None else int(time.time()))
    return {
        "x-phigate-vendor": "test-vendor", "x-phigate-timestamp": timestamp, "idempotency-key": key,
        "x-phigate-signature": signature(secret.encode(), timestamp, body),
        "content-type": "application/json",
    }  # fmt: skip


def report(key: str) -> bytes:
    return orjson.dumps({"summary": f"Incident {key}", "jurisdictions": ["US"]})


async def secret_of(stack: Stack) -> str:
    await stack.register("webhook-lab", "system/Patient.r")
    services = stack.node.services
    return await new_webhook_secret(SqlSecretStore(services.db, services.keyring), "test-vendor")


def client(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=ssl.create_default_context(cafile=stack.pki.ca_cert), timeout=15)


async def test_an_oversized_report_is_refused_before_it_is_read(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack, client(stack) as http:
        secret = await secret_of(stack)
        big = orjson.dumps({"summary": "x" * 20_000})
        reply = await http.post(stack.public + PATH, content=big, headers=signed(secret, "k-1", big))
        assert reply.status_code == 413 and reply.json()["error"] == "too-costly"
        assert await stack.node.vendor_admin.risk.incidents() == []


async def test_reports_are_limited_per_address_before_the_signature_and_per_vendor_after(
    tmp_path: Path,
) -> None:
    limits = {"webhook_per_ip": {"rate_limit": "6/minute"}, "webhook_per_vendor": {"rate_limit": "2/minute"}}
    async with running_stack(tmp_path, vendors=limits) as stack, client(stack) as http:
        secret = await secret_of(stack)
        url = stack.public + PATH
        for n in range(3):  # forgeries naming the vendor spend the address's budget, not the vendor's
            forged = await http.post(url, content=BODY, headers=signed("not-" + secret, f"f-{n}"))
            assert forged.status_code == 401
        for key in ("k-1", "k-2"):
            assert (
                await http.post(url, content=report(key), headers=signed(secret, key, report(key)))
            ).is_success
        over = await http.post(url, content=report("k-3"), headers=signed(secret, "k-3", report("k-3")))
        assert over.status_code == 429 and int(over.headers["retry-after"]) >= 1  # the vendor's 2 a minute
        assert over.json()["error"] == "throttled"
        flood = await http.post(url, content=BODY, headers=signed("not-" + secret, "f-4"))
        assert flood.status_code == 429  # the address's 6 a minute: refused before the signature is checked
        assert len(await stack.node.vendor_admin.risk.incidents()) == 2


async def test_a_denied_address_is_refused(tmp_path: Path) -> None:
    async with running_stack(tmp_path, traffic={"deny_ips": ["127.0.0.0/8"]}) as stack, client(stack) as http:
        services = stack.node.services
        await stack.register("webhook-lab", "system/Patient.r")
        secret = await new_webhook_secret(SqlSecretStore(services.db, services.keyring), "test-vendor")
        reply = await http.post(stack.public + PATH, content=BODY, headers=signed(secret, "k-1"))
        assert reply.status_code == 403 and reply.json()["error"] == "forbidden"


async def test_a_signed_report_replayed_under_another_key_is_refused_and_audited(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack, client(stack) as http:
        assert stack.node.evidence is not None
        seen: list[AuditEvent] = []
        stack.node.evidence.trail.observers.append(seen.append)
        secret = await secret_of(stack)
        url, original = stack.public + PATH, signed(secret, "k-1")
        unsigned = {k: v for k, v in original.items() if k != "x-phigate-signature"}
        assert (await http.post(url, content=BODY, headers=unsigned)).status_code == 401
        recorded = await http.post(url, content=BODY, headers=original)
        assert recorded.status_code == 201
        retry = await http.post(url, content=BODY, headers=original)  # the vendor's own retry: same key
        assert retry.status_code == 200 and retry.json()["status"] == "already recorded"
        replayed = await http.post(url, content=BODY, headers={**original, "idempotency-key": "k-evil"})
        assert replayed.status_code == 401 and replayed.json()["error"] == "login"
        assert len(await stack.node.vendor_admin.risk.incidents()) == 1
        resigned = await http.post(url, content=BODY, headers=signed(secret, "k-2", at=int(time.time()) + 1))
        assert resigned.status_code == 201  # a fresh signature is a fresh report
    refusals = [e.reason for e in seen if e.action == "vendor.webhook.refused"]
    assert refusals == ["the signature does not match", "the signed report was received before (a replay)"]
