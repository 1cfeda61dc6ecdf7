"""Two running gateway nodes check for reminders and overdue reviews on their own: each notice reaches the
signed webhook once (not once per node, not once per round), is stored as an alert and audited."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from fixtures.gateway_stack import free_port, running_stack
from phigate.adapters.sql.audit import AuditQuery, SqlAuditStore
from phigate.adapters.sql.vendor_reviews import SqlAccessReviews
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.cli.vendor_registry import register_vendor
from phigate.monitor.alerts import signature
from phigate.types import ClientId, VendorId
from phigate.vendors.agreements import BAA_CLAUSES, Agreement, AgreementKind
from phigate.vendors.reviews import AccessReview, ReviewItem

SECRET = "notice-webhook-secret"
V = VendorId("acme")
Received = list[tuple[dict[str, str], bytes]]


@pytest.fixture
async def hook() -> AsyncIterator[tuple[str, Received, asyncio.Event]]:
    received: Received = []
    arrived = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        received.append(({k.lower(): v for k, v in request.headers.items()}, await request.read()))
        arrived.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/hook", received, arrived
    finally:
        await runner.cleanup()


@pytest.mark.slow
async def test_each_notice_reaches_the_webhook_once_from_two_nodes(
    tmp_path: Path, hook: tuple[str, Received, asyncio.Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received, arrived = hook
    monkeypatch.setenv("PHIGATE_TEST_WEBHOOK_SECRET", SECRET)
    audit = {
        "flush_interval_seconds": 0.05,
        "webhook_url": url,
        "webhook_secret_env": "PHIGATE_TEST_WEBHOOK_SECRET",
    }
    vendors = {"notice_check_seconds": 0.1}
    async with running_stack(tmp_path, nodes=2, audit=audit, vendors=vendors) as stack:
        db = stack.node.services.db
        now = datetime.now(UTC)
        await register_vendor(db, "Acme", V)
        baa = Agreement(
            id="ag-baa", vendor_id=V, kind=AgreementKind.baa, valid_from=date(2025, 1, 1),
            valid_until=now.date() + timedelta(days=30), recorded_at=now, clauses=frozenset(BAA_CLAUSES),
        )  # fmt: skip
        await SqlVendorRisk(db, stack.node.services.keyring).documents.add_agreement(baa, None, "test")
        item = ReviewItem(client_id=ClientId("lab"), vendor_id=V, scope="system/Patient.r", uses=0,
                          by_type={}, last_used=None, flagged=True)  # fmt: skip
        started = now - timedelta(days=20)
        late = AccessReview(id="rev-late", started_at=started, due_on=started.date() + timedelta(days=14),
                            unused_days=90, items=(item,))  # fmt: skip
        await SqlAccessReviews(db).add(late, "test")

        async with asyncio.timeout(15):
            while len(received) < 2:
                arrived.clear()
                await arrived.wait()
        await asyncio.sleep(1.0)  # ten more rounds on each node
        alerts = [orjson.loads(body) for _, body in received]
        assert sorted((a["detector"], a["subject"]) for a in alerts) == [
            ("access-review-overdue", "review:rev-late"),
            ("vendor-expiry", "vendor:acme/ag-baa"),
        ]
        for headers, body in received:
            expected = signature(SECRET.encode(), headers["x-phigate-timestamp"], body)
            assert hmac.compare_digest(headers["x-phigate-signature"], expected)
        for node in stack.nodes:
            assert node.evidence is not None
            await node.evidence.trail.writer.drain()
        store = SqlAuditStore(db)
        assert sorted(a["detector"] for a in await store.alerts()) == [
            "access-review-overdue",
            "vendor-expiry",
        ]
        trail = await store.search(AuditQuery(kind="alert"))
        assert sorted(e.event["action"] for e in trail) == ["access-review-overdue", "vendor-expiry"]
        reminder: dict[str, Any] = next(e.event for e in trail if e.event["action"] == "vendor-expiry")
        assert reminder["vendor_id"] == "acme" and "expires" in reminder["reason"]
