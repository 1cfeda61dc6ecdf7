"""Reminders (A.6) and overdue alerts (A.7, access reviews) sent once, on a frozen clock, on each backend:
at T-30 days one reminder per artefact, a second run sends nothing, nodes racing send one, a failed
sending stays due; and the node's periodic task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from phigate.adapters.kms import Keyring, LocalMasterKey, generate_master_key
from phigate.adapters.sql import Database, SqlDataKeyStore, open_database
from phigate.adapters.sql.vendor_reviews import SqlAccessReviews
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.admin.vendor_notices import NoticeNotSent, NoticeSchedule, VendorNotices, node_schedule
from phigate.monitor.detectors import Alert, Severity
from phigate.settings.vendors import VendorSettings
from phigate.types import ClientId, VendorId
from phigate.vendors.agreements import BAA_CLAUSES, Agreement, AgreementKind
from phigate.vendors.assessment import assess
from phigate.vendors.evidence import Evidence, EvidenceKind
from phigate.vendors.records import Vendor
from phigate.vendors.reviews import AccessReview, ReviewItem

V = VendorId("acme")
T = datetime(2026, 11, 28, 9, tzinfo=UTC)  # the artefacts below expire on T + 30 days
RULES = VendorSettings()


class Outbox:
    """An alert sink that keeps what it is given (or fails, while ``down``)."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.down = False

    async def __call__(self, alert: Alert) -> None:
        if self.down:
            raise NoticeNotSent("the webhook alert sink failed (ClientConnectorError)")
        self.alerts.append(alert)


@pytest.fixture
async def stores(storage_url: str) -> AsyncIterator[tuple[Database, Keyring]]:
    db = await open_database(storage_url)
    await db.migrate()
    keyring = await Keyring.open(SqlDataKeyStore(db), LocalMasterKey.from_text(generate_master_key()))
    await SqlVendorRegistry(db).add(Vendor(id=V, name="Acme", created_at=T))
    risk = SqlVendorRisk(db, keyring)
    baa = Agreement(
        id="ag-baa", vendor_id=V, kind=AgreementKind.baa, valid_from=date(2025, 12, 29),
        valid_until=date(2026, 12, 28), recorded_at=T, clauses=frozenset(BAA_CLAUSES),
    )  # fmt: skip
    soc2 = Evidence(
        id="ev-soc2", vendor_id=V, kind=EvidenceKind.soc2_type2, recorded_at=T, issuer="Auditor",
        period_start=date(2025, 1, 1), period_end=date(2025, 12, 28),
    )  # fmt: skip
    await risk.documents.add_agreement(baa, None, "test")
    await risk.documents.add_evidence(soc2, None, "test")
    await risk.add_assessment(replace(assess("as-1", V, {}, "ciso", T), review_due=date(2027, 6, 1)), "test")
    yield db, keyring
    await db.close()


async def test_at_thirty_days_one_reminder_per_artefact_and_a_second_run_sends_none(
    stores: tuple[Database, Keyring],
) -> None:
    notices = VendorNotices(*stores, RULES)
    outbox = Outbox()
    done = await notices.send(outbox, T)
    assert sorted(a.explanation for a in outbox.alerts) == [
        "Vendor acme: HIPAA business associate agreement expires 2026-12-28 (in 30 days)",
        "Vendor acme: SOC 2 Type II report expires 2026-12-28 (in 30 days)",
    ]
    assert {(a.detector, a.severity, a.vendor_id) for a in outbox.alerts} == {
        ("vendor-expiry", Severity.low, "acme")
    }
    assert len(done.sent) == 2 and done.failed == []
    again = await notices.send(outbox, T + timedelta(hours=6))  # same stage, later that day and the next
    assert again.sent == [] and len(outbox.alerts) == 2
    assert (await notices.send(outbox, T + timedelta(days=1))).sent == []
    assert all(not item.pending and item.last_sent == T for item in await notices.due(T + timedelta(days=1)))
    week = await notices.send(outbox, T + timedelta(days=23))  # 7 days left: the next stage, once
    assert sorted(n.lead_days for n in week.sent) == [7, 7] and len(outbox.alerts) == 4
    assert {a.severity for a in outbox.alerts[2:]} == {Severity.medium}


async def test_two_nodes_racing_send_each_reminder_once(stores: tuple[Database, Keyring]) -> None:
    outbox = Outbox()
    nodes = [VendorNotices(*stores, RULES) for _ in range(3)]
    await asyncio.gather(*(node.send(outbox, T) for node in nodes))
    assert len(outbox.alerts) == 2


async def test_a_notice_whose_sending_failed_stays_due(stores: tuple[Database, Keyring]) -> None:
    notices = VendorNotices(*stores, RULES)
    outbox = Outbox()
    outbox.down = True
    done = await notices.send(outbox, T)
    assert (
        done.sent == []
        and [reason for _, reason in done.failed]
        == ["the webhook alert sink failed (ClientConnectorError)"] * 2
    )
    assert all(item.pending for item in await notices.due(T))
    outbox.down = False
    assert len((await notices.send(outbox, T + timedelta(minutes=5))).sent) == 2


def overdue_review(started: datetime) -> AccessReview:
    item = ReviewItem(client_id=ClientId("lab"), vendor_id=V, scope="system/Patient.r", uses=0, by_type={},
                      last_used=None, flagged=True)  # fmt: skip
    return AccessReview(id="rev-late", started_at=started, due_on=started.date() + timedelta(days=14),
                        unused_days=90, items=(item,))  # fmt: skip


async def test_overdue_reviews_alert_once_per_interval(stores: tuple[Database, Keyring]) -> None:
    db, keyring = stores
    await SqlAccessReviews(db).add(overdue_review(T - timedelta(days=20)), "test")
    late = T + timedelta(days=190)  # the security review (due 2027-06-01) is overdue too
    notices = VendorNotices(db, keyring, VendorSettings(overdue_alert_hours=12))
    outbox = Outbox()
    await notices.send(outbox, late)
    assert sorted((a.detector, a.subject) for a in outbox.alerts) == [
        ("access-review-overdue", "review:rev-late"),
        ("vendor-review-overdue", "vendor:acme"),
    ]
    assert "in grace" in next(a.explanation for a in outbox.alerts if a.subject == "vendor:acme")
    await notices.send(outbox, late + timedelta(hours=11))
    assert len(outbox.alerts) == 2
    await notices.send(outbox, late + timedelta(hours=12))
    assert len(outbox.alerts) == 4


class Desk:
    """Stands for the node's alert desk: what ``raise_alert`` was given, and a wait for the n-th."""

    def __init__(self) -> None:
        self.raised: list[Alert] = []
        self.changed = asyncio.Event()

    def raise_alert(self, alert: Alert) -> None:
        self.raised.append(alert)
        self.changed.set()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.raised) < count:
                self.changed.clear()
                await self.changed.wait()


async def test_the_node_schedule_checks_at_start_and_on_its_interval(
    stores: tuple[Database, Keyring],
) -> None:
    db, keyring = stores
    desk, clock = Desk(), [T.timestamp()]
    rules = VendorSettings(notice_check_seconds=0.05)
    schedule = node_schedule(db, keyring, rules, desk.raise_alert, lambda: clock[0])
    assert isinstance(schedule, NoticeSchedule)
    schedule.start()
    try:
        await desk.until(2)
        clock[0] = (T + timedelta(days=23)).timestamp()  # the 7-day stage
        await desk.until(4)
        await asyncio.sleep(0.3)  # several more rounds: nothing new
    finally:
        await schedule.stop()
    assert len(desk.raised) == 4
    off = VendorSettings(notice_check_seconds=0)
    assert node_schedule(db, keyring, off, desk.raise_alert, lambda: clock[0]) is None
    assert node_schedule(db, keyring, RULES, None, lambda: clock[0]) is None  # no alert desk (audit off)
