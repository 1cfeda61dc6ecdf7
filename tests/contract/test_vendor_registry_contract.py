"""One contract for the vendor risk registry, evidence of use from the audit trail and the notices sent,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, select, text

from phigate.adapters.kms import Keyring, LocalMasterKey, generate_master_key
from phigate.adapters.sql import Database, SqlDataKeyStore, migrations, open_database
from phigate.adapters.sql.audit import SqlAuditStore
from phigate.adapters.sql.schema import vendor_evidence, vendor_profiles
from phigate.adapters.sql.vendor_evidence import new_id
from phigate.adapters.sql.vendor_notices import SqlVendorNotices
from phigate.adapters.sql.vendor_risk import SqlVendorRisk, VendorProfile
from phigate.adapters.sql.vendor_usage import SqlAuditUsage, use_query
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.audit.chain import Chain
from phigate.audit.events import AuditEvent, Kind
from phigate.errors import KeyStoreError
from phigate.types import ClientId, VendorId
from phigate.vendors.agreements import BAA_CLAUSES, Agreement, AgreementKind
from phigate.vendors.assessment import assess
from phigate.vendors.evidence import Attachment, Evidence, EvidenceKind
from phigate.vendors.incidents import Incident
from phigate.vendors.records import NotRegistered, Vendor, VendorStatus
from phigate.vendors.reminders import Notice, NoticeKind

V = VendorId("acme")
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
REPORT = b"%PDF SOC 2 Type II report of Acme"


@pytest.fixture
async def db(storage_url: str) -> AsyncIterator[Database]:
    database = await open_database(storage_url)
    await database.migrate()
    await SqlVendorRegistry(database).add(Vendor(id=V, name="Acme", created_at=NOW))
    yield database
    await database.close()


@pytest.fixture
async def risk(db: Database) -> SqlVendorRisk:
    keyring = await Keyring.open(SqlDataKeyStore(db), LocalMasterKey.from_text(generate_master_key()))
    return SqlVendorRisk(db, keyring)


def soc2() -> Evidence:
    digest = hashlib.sha256(REPORT).hexdigest()
    return Evidence(
        id=new_id("ev"), vendor_id=V, kind=EvidenceKind.soc2_type2, recorded_at=NOW, issuer="Auditor",
        period_start=date(2025, 4, 1), period_end=date(2026, 3, 31), exceptions=2,
        attachment=Attachment("soc2.pdf", digest, len(REPORT)),
    )  # fmt: skip


async def test_records_read_back_equal_and_the_dossier_holds_them_all(risk: SqlVendorRisk) -> None:
    item = soc2()
    await risk.documents.add_evidence(item, REPORT, "t")
    baa = Agreement(
        id=new_id("ag"), vendor_id=V, kind=AgreementKind.baa, valid_from=date(2026, 1, 1),
        valid_until=date(2027, 1, 1), recorded_at=NOW, clauses=frozenset(BAA_CLAUSES), breach_notice_hours=24,
    )  # fmt: skip
    await risk.documents.add_agreement(baa, None, "t")
    assessment = assess(new_id("as"), V, {"tls": "1.3"}, "ciso", NOW)
    await risk.add_assessment(assessment, "t")
    incident = Incident(
        id=new_id("inc"), vendor_id=V, summary="Leak", aware_at=NOW - timedelta(hours=1), recorded_at=NOW,
        jurisdictions=frozenset({"EU"}),
    )  # fmt: skip
    await risk.record_incident(incident, "t")
    await risk.set_profile(
        V, VendorProfile(jurisdictions=("EU", "US"), contacts={"security": "a@b.c"}), "t", NOW
    )

    dossier = await risk.dossier(V)
    assert dossier.evidence == (item,) and dossier.agreements == (baa,)
    assert dossier.assessment == assessment and dossier.incidents == (incident,)
    assert dossier.jurisdictions == {"EU", "US"} and dossier.tokens_revoked_before == NOW
    assert await risk.documents.attachment(V, item.id) == REPORT
    assert (await risk.profile(V)).contacts == {"security": "a@b.c"}
    assert not (await risk.dossier(VendorId("nobody"))).known


async def test_sensitive_columns_hold_no_plaintext_and_a_moved_attachment_does_not_open(
    risk: SqlVendorRisk, db: Database
) -> None:
    item = soc2()
    await risk.documents.add_evidence(item, REPORT, "t")
    await risk.set_profile(V, VendorProfile(contacts={"security": "ciso@acme.example"}), "t", NOW)
    async with db.connect() as connection:
        sealed = (await connection.execute(select(vendor_evidence.c.attachment))).scalar_one()
        contacts = (await connection.execute(select(vendor_profiles.c.contacts))).scalar_one()
    assert b"SOC 2" not in bytes(sealed) and b"ciso@acme" not in bytes(contacts)
    other = replace(soc2(), id=new_id("ev"))
    await risk.documents.add_evidence(other, REPORT, "t")
    async with db.begin() as connection:  # copy one row's sealed file onto another row
        await connection.execute(
            vendor_evidence.update().where(vendor_evidence.c.id == other.id).values(attachment=sealed)
        )
    with pytest.raises(KeyStoreError):
        await risk.documents.attachment(V, other.id)


async def test_suspension_and_reinstatement_update_the_vendor_and_the_trail(
    risk: SqlVendorRisk, db: Database
) -> None:
    await risk.suspend(V, "audit overdue", "ops", NOW)
    dossier = await risk.dossier(V)
    assert dossier.suspension is not None and dossier.suspension.reason == "audit overdue"
    assert (await SqlVendorRegistry(db).get(V)).status is VendorStatus.suspended  # type: ignore[union-attr]
    await risk.reinstate(V, "ops", NOW + timedelta(hours=1))
    dossier = await risk.dossier(V)
    assert dossier.suspension is None and dossier.tokens_revoked_before == NOW
    assert [e.action for e in await risk.events(V)] == ["vendor.suspend", "vendor.reinstate"]
    with pytest.raises(NotRegistered):
        await risk.suspend(VendorId("nobody"), "x", "ops", NOW)


async def test_removed_documents_stop_counting(risk: SqlVendorRisk) -> None:
    item = soc2()
    await risk.documents.add_evidence(item, REPORT, "t")
    await risk.documents.remove(V, item.id, "t", NOW)
    assert (await risk.dossier(V)).evidence == ()
    with pytest.raises(NotRegistered):
        await risk.documents.remove(V, item.id, "t", NOW)


# --- evidence of use, from the audit trail --------------------------------------------------------------


def exchange(
    client: str, rtype: str | None, interaction: str, at: datetime, status: int = 200, outcome: str = "ok"
) -> AuditEvent:
    return AuditEvent(Kind.exchange, interaction, at.timestamp(), client_id=client, vendor_id="acme",
                      resource_type=rtype, status=status, outcome=outcome)  # fmt: skip


async def stored(db: Database, *events: AuditEvent, node: str = "node-a") -> None:
    chain = Chain(node)
    await SqlAuditStore(db).store([chain.append(event.record()) for event in events])


async def test_use_is_counted_from_the_audit_trail_per_type_and_interaction_since_a_moment(
    db: Database,
) -> None:
    await stored(
        db,
        exchange("lab", "Patient", "read", NOW - timedelta(days=2)),
        exchange("lab", "Patient", "read", NOW - timedelta(hours=1), status=403, outcome="forbidden"),
        exchange("lab", "Observation", "search", NOW - timedelta(days=1)),
        exchange("lab", "Observation", "search", NOW - timedelta(days=100)),  # before the period
        exchange("lab", None, "batch", NOW),  # system level: no resource scope covers it
        exchange("billing", "Claim", "search", NOW),  # not asked for
        AuditEvent(Kind.security, "token.issued", NOW.timestamp(), client_id="lab", resource_type="Patient"),
    )
    await stored(db, exchange("lab", "Patient", "read", NOW), node="node-b")  # every node's events count
    uses = await SqlAuditUsage(db).uses(NOW - timedelta(days=90), [ClientId("lab")])
    assert [(u.client_id, u.resource_type, u.interaction, u.count, u.last_at) for u in uses] == [
        ("lab", "Observation", "search", 1, NOW - timedelta(days=1)),
        ("lab", "Patient", "read", 3, NOW),
    ]
    assert await SqlAuditUsage(db).uses(NOW - timedelta(days=90), []) == []


async def test_the_use_query_reads_the_client_and_time_index(db: Database) -> None:
    query = use_query(NOW, ["lab", "billing"]).compile(
        dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}
    )
    explain = "EXPLAIN QUERY PLAN" if db.dialect == "sqlite" else "EXPLAIN"
    async with db.begin() as connection:
        if db.dialect == "postgresql":  # a tiny table is scanned whole; the question is whether it can be not
            await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = " ".join(str(r[-1]) for r in (await connection.exec_driver_sql(f"{explain} {query}")).all())
    assert "ix_audit_events_client_id_recorded" in plan


async def test_events_stored_before_the_upgrade_get_their_resource_type(storage_url: str) -> None:
    """The r0012 migration fills the new column from each stored event's canonical JSON, on each backend."""
    database = await open_database(storage_url)
    try:
        async with database.begin() as connection:  # the schema as it was: audit trail and vendor risk
            await connection.run_sync(lambda sync: _upgrade_to(sync, "0008", "0004"))
        event = exchange("lab", "Observation", "search", NOW).record()
        chained = Chain("old-node").append(event)
        async with database.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO audit_events (node, seq, prev_hash, hash, recorded, kind, action, "
                    "client_id, vendor_id, outcome, event) VALUES ('old-node', 1, :prev, :hash, :recorded, "
                    "'exchange', 'search', 'lab', 'acme', 'ok', :event)"
                ),
                {"prev": chained.prev_hash, "hash": chained.hash, "recorded": NOW.timestamp(),
                 "event": orjson.dumps(event, option=orjson.OPT_SORT_KEYS).decode()},
            )  # fmt: skip
        await database.migrate()
        [use] = await SqlAuditUsage(database).uses(NOW - timedelta(days=1), ["lab"])
        assert (use.resource_type, use.interaction, use.count) == ("Observation", "search", 1)
    finally:
        await database.close()


def _upgrade_to(connection: Connection, *revisions: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.attributes["connection"] = connection
    for revision in revisions:
        command.upgrade(config, revision)


# --- reminders and overdue alerts sent once ----------------------------------------------------------------

REMINDER = Notice(
    "expiry:acme:ag-1:2026-12-28:30", NoticeKind.expiry, V, "vendor:acme/ag-1", "BAA expires", 30
)
OVERDUE = Notice("review-overdue:rev-1", NoticeKind.review_overdue, None, "review:rev-1", "Review overdue")
DAY = timedelta(hours=24)


async def test_a_reminder_is_claimed_once_ever(db: Database) -> None:
    notices = SqlVendorNotices(db)
    assert await notices.claim(REMINDER, NOW, DAY)
    assert not await notices.claim(REMINDER, NOW + timedelta(days=400), DAY)
    [sent] = await notices.sent(vendor_id=V)
    assert (sent.key, sent.kind, sent.vendor_id, sent.text, sent.sent_at) == (
        REMINDER.key, NoticeKind.expiry, V, "BAA expires", NOW,
    )  # fmt: skip


async def test_an_overdue_notice_is_claimed_again_only_after_the_interval(db: Database) -> None:
    notices = SqlVendorNotices(db)
    assert await notices.claim(OVERDUE, NOW, DAY)
    assert not await notices.claim(OVERDUE, NOW + DAY - timedelta(seconds=1), DAY)
    assert await notices.claim(OVERDUE, NOW + DAY, DAY)
    assert [n.sent_at for n in await notices.sent(keys=[OVERDUE.key])] == [NOW + DAY]


async def test_concurrent_claimants_have_exactly_one_winner(storage_url: str) -> None:
    """Three nodes with their own connections race for the same notices."""
    nodes = [await open_database(storage_url) for _ in range(3)]
    try:
        await nodes[0].migrate()
        for notice in (REMINDER, OVERDUE):
            won = await asyncio.gather(*(SqlVendorNotices(node).claim(notice, NOW, DAY) for node in nodes))
            assert sorted(won) == [False, False, True]
    finally:
        for node in nodes:
            await node.close()


async def test_a_released_claim_is_due_again(db: Database) -> None:
    notices = SqlVendorNotices(db)
    assert await notices.claim(REMINDER, NOW, DAY)
    await notices.release(REMINDER.key)
    assert await notices.sent() == []
    assert await notices.claim(REMINDER, NOW, DAY)
