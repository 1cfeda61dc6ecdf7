"""One contract for the vendor risk registry, its reviews and its usage counts, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from phigate.adapters.kms import Keyring, LocalMasterKey, generate_master_key
from phigate.adapters.sql import Database, SqlDataKeyStore, open_database
from phigate.adapters.sql.schema import vendor_evidence, vendor_profiles
from phigate.adapters.sql.vendor_evidence import new_id
from phigate.adapters.sql.vendor_risk import SqlVendorRisk, VendorProfile
from phigate.adapters.sql.vendor_usage import SqlClientUsage
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.errors import KeyStoreError
from phigate.types import ClientId, VendorId
from phigate.vendors.agreements import BAA_CLAUSES, Agreement, AgreementKind
from phigate.vendors.assessment import assess
from phigate.vendors.evidence import Attachment, Evidence, EvidenceKind
from phigate.vendors.incidents import Incident
from phigate.vendors.records import NotRegistered, Vendor, VendorStatus
from phigate.vendors.usage import Use

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


async def test_usage_counts_add_up_across_nodes_and_keep_the_latest_use(db: Database) -> None:
    usage = SqlClientUsage(db)
    lab = ClientId("lab")
    await usage.add([Use(lab, "Patient", "read", 2, NOW)])
    await usage.add(
        [Use(lab, "Patient", "read", 3, NOW - timedelta(days=1)), Use(lab, "Observation", "search", 1, NOW)]
    )
    uses = {(u.resource_type, u.interaction): (u.count, u.last_at) for u in await usage.uses(lab)}
    assert uses == {("Patient", "read"): (5, NOW), ("Observation", "search"): (1, NOW)}
