"""Sub-processor changes and offboarding in the durable store, one contract on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from phigate.adapters.kms import Keyring, LocalMasterKey, generate_master_key
from phigate.adapters.sql import Database, SqlDataKeyStore, open_database
from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.adapters.sql.schema import vendor_offboardings
from phigate.adapters.sql.vendor_evidence import journal
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.admin.vendor_lifecycle import (
    attestation_of_file,
    decide_subprocessor,
    offboard,
    propose_subprocessor,
)
from phigate.monitor.detectors import Alert
from phigate.oauth.jose import generate_client_key
from phigate.settings.vendors import VendorSettings
from phigate.types import ClientId, VendorId
from phigate.vendors.agreements import BAA_CLAUSES, Agreement, AgreementKind
from phigate.vendors.clients import ClientStatus, new_client
from phigate.vendors.records import NotRegistered, RegistrationError, Vendor, VendorStatus
from phigate.vendors.subprocessors import ChangeStatus

V = VendorId("acme")
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
RULES = VendorSettings(subprocessor_objection_days=14)
ATTESTATION = b"%PDF-1.7 Acme certifies every copy of the data was destroyed"


@pytest.fixture
async def db(storage_url: str) -> AsyncIterator[Database]:
    database = await open_database(storage_url)
    await database.migrate()
    await SqlVendorRegistry(database).add(Vendor(id=V, name="Acme", created_at=NOW))
    _, public = generate_client_key("ES384")
    client = new_client(vendor_id=V, name="feed", scopes="system/Observation.rs", now=NOW, client_id="lab",
                        jwks={"keys": [{**public, "kid": "k1"}]})  # fmt: skip
    await SqlClientRegistry(database).add(client)
    yield database
    await database.close()


@pytest.fixture
async def risk(db: Database) -> SqlVendorRisk:
    keyring = await Keyring.open(SqlDataKeyStore(db), LocalMasterKey.from_text(generate_master_key()))
    return SqlVendorRisk(db, keyring)


async def test_a_change_is_stored_pending_with_the_scopes_it_holds_and_decided_once(
    risk: SqlVendorRisk,
) -> None:
    sent: list[Alert] = []

    async def notify(alert: Alert) -> None:
        sent.append(alert)

    with journal() as changes:
        item = await propose_subprocessor(
            risk, RULES, notify, V, name="CloudStore", service="object storage",
            data_categories=("lab-results",), locations=("US", "EU"), actor="cli:dpo", now=NOW,
        )  # fmt: skip
    assert [s for s in await risk.subprocessors.list(V)] == [item]
    assert item.scopes_at_proposal == {ClientId("lab"): "system/Observation.rs"}
    assert item.objection_until == date(2026, 12, 12)
    [alert] = sent
    assert (alert.detector, alert.vendor_id, alert.subject) == (
        "vendor.subprocessor",
        V,
        f"vendor:{V}:{item.id}",
    )
    assert "CloudStore added" in alert.explanation and "2026-12-12" in alert.explanation
    assert [c.action for c in changes] == ["subprocessor.propose"]
    assert (await risk.dossier(V)).subprocessors == (item,)

    approved = await decide_subprocessor(risk, V, item.id, approve=True, actor="cli:dpo", now=NOW)
    assert (await risk.subprocessors.get(V, item.id)) == approved
    with pytest.raises(RegistrationError, match="decided already"):
        await decide_subprocessor(risk, V, item.id, approve=False, actor="cli:dpo", now=NOW, reason="late")
    with pytest.raises(RegistrationError, match="reason"):
        await decide_subprocessor(risk, V, item.id, approve=False, actor="cli:dpo", now=NOW)
    with pytest.raises(NotRegistered):
        await decide_subprocessor(risk, V, "sp-missing", approve=True, actor="cli:dpo", now=NOW)


async def test_approving_new_terms_supersedes_the_listed_entry(risk: SqlVendorRisk) -> None:
    async def notify(alert: Alert) -> None:
        return None

    first = await propose_subprocessor(
        risk, RULES, notify, V, name="CloudStore", service="storage", data_categories=("lab-results",),
        locations=("US",), actor="a", now=NOW,
    )  # fmt: skip
    await decide_subprocessor(risk, V, first.id, approve=True, actor="a", now=NOW)
    change = await propose_subprocessor(
        risk, RULES, notify, V, name="CloudStore", service="storage", data_categories=("lab-results",),
        locations=("US", "IN"), actor="a", now=NOW + timedelta(days=1),
    )  # fmt: skip
    assert change.replaces == first.id
    await decide_subprocessor(risk, V, change.id, approve=True, actor="a", now=NOW + timedelta(days=2))
    statuses = {s.id: s.status for s in await risk.subprocessors.list(V)}
    assert statuses == {first.id: ChangeStatus.superseded, change.id: ChangeStatus.approved}


async def test_offboarding_seals_the_attestation_and_terminates_revokes_disables_and_ends_at_once(
    db: Database, risk: SqlVendorRisk
) -> None:
    baa = Agreement(
        id="ag-1", vendor_id=V, kind=AgreementKind.baa, valid_from=date(2025, 1, 1),
        valid_until=date(2028, 12, 31), recorded_at=NOW, clauses=frozenset(BAA_CLAUSES),
    )  # fmt: skip
    await risk.documents.add_agreement(baa, None, "t")
    with pytest.raises(RegistrationError, match="return-or-destroy attestation"):
        await offboard(risk, V, None, None, "cli:dpo")
    attestation = attestation_of_file(
        V, disposition="destroyed", signed_by="Jo Bloggs, CISO", signed_on=date(2026, 11, 27),
        file_name="destruction.pdf", content=ATTESTATION, reason="contract ended", now=NOW,
    )  # fmt: skip
    with pytest.raises(RegistrationError, match="not the one the attestation describes"):
        await offboard(risk, V, attestation, ATTESTATION + b"x", "cli:dpo")
    with journal() as changes:
        result = await offboard(risk, V, attestation, ATTESTATION, "cli:dpo")
    assert result["clients_disabled"] == 1 and result["agreements_terminated"] == ["ag-1"]
    assert result["file_sha256"] == hashlib.sha256(ATTESTATION).hexdigest()
    assert [c.action for c in changes] == ["vendor.offboard"]

    vendor = await SqlVendorRegistry(db).get(V)
    assert vendor is not None and vendor.status is VendorStatus.terminated
    client = await SqlClientRegistry(db).get(ClientId("lab"))
    assert client is not None and client.status is ClientStatus.disabled
    dossier = await risk.dossier(V)
    assert dossier.offboarding == attestation and dossier.tokens_revoked_before == NOW
    [ended] = dossier.agreements
    assert (ended.terminated_on, ended.termination_attestation) == (NOW.date(), attestation.id)
    assert await risk.offboarding.document(V) == ATTESTATION
    async with db.connect() as connection:
        stored = (await connection.execute(select(vendor_offboardings.c.document))).scalar_one()
    assert b"destroyed" not in bytes(stored)  # sealed at rest

    with pytest.raises(RegistrationError, match="cannot become terminated"):
        await offboard(risk, V, attestation, ATTESTATION, "cli:dpo")
    with pytest.raises(RegistrationError, match="cannot become active"):
        await risk.reinstate(V, "cli:dpo", NOW)
    with pytest.raises(RegistrationError, match="cannot become suspended"):
        await risk.suspend(V, "again", "cli:dpo", NOW)
