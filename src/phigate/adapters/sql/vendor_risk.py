"""A vendor's risk record in the durable store: profile, suspension, assessments, incidents, trail, dossier.

:meth:`SqlVendorRisk.dossier` is the :class:`phigate.vendors.dossier.DossierSource`
every gateway node reads (through its posture gate's short cache). Each change
writes a line to ``vendor_events`` in the same transaction. Contacts (names,
e-mail addresses, phone numbers of people) are sealed by the keyring.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from phigate.adapters.sql.database import Database, as_utc
from phigate.adapters.sql.schema import (
    oauth_clients,
    vendor_assessments,
    vendor_events,
    vendor_incidents,
    vendor_profiles,
    vendors,
)
from phigate.adapters.sql.vendor_codec import (
    assessment_document,
    assessment_of,
    dumps,
    incident_document,
    incident_of,
    loads,
)
from phigate.adapters.sql.vendor_evidence import SqlVendorEvidence, record_event, upsert_profile
from phigate.adapters.sql.vendor_offboarding import SqlOffboarding
from phigate.adapters.sql.vendor_subprocessors import SqlSubprocessors
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.ports import DataCipher
from phigate.types import ClientId, VendorId
from phigate.vendors.assessment import Assessment
from phigate.vendors.dossier import Dossier, Suspension
from phigate.vendors.incidents import Incident
from phigate.vendors.records import NotRegistered, RegistrationError, VendorStatus


@dataclass(frozen=True)
class VendorProfile:
    """The registry's description of a vendor beyond its name (issue 9, item 1)."""

    legal_name: str = ""
    jurisdictions: tuple[str, ...] = ()  # where it stores and processes data (ISO country codes, EU)
    services: tuple[str, ...] = ()
    data_categories: tuple[str, ...] = ()
    contacts: dict[str, str] = field(default_factory=dict)  # security, incident: sealed at rest

    def public(self) -> dict[str, Any]:
        return {
            "legal_name": self.legal_name, "jurisdictions": list(self.jurisdictions),
            "services": list(self.services), "data_categories": list(self.data_categories),
        }  # fmt: skip


@dataclass(frozen=True)
class VendorEvent:
    at: datetime
    actor: str
    action: str
    detail: str


class SqlVendorRisk:
    def __init__(self, db: Database, cipher: DataCipher) -> None:
        self._db = db
        self._cipher = cipher
        self.registry = SqlVendorRegistry(db)
        self.documents = SqlVendorEvidence(db, cipher)
        self.subprocessors = SqlSubprocessors(db)
        self.offboarding = SqlOffboarding(db, cipher)

    # --- profile and suspension -------------------------------------------------------------------------

    async def set_profile(
        self, vendor_id: VendorId, profile: VendorProfile, actor: str, now: datetime
    ) -> None:
        await self._require(vendor_id)
        sealed = await self._cipher.encrypt(orjson.dumps(profile.contacts), _contacts_context(vendor_id))
        async with self._db.begin() as connection:
            await self._upsert(connection, vendor_id, now, details=dumps(profile.public()), contacts=sealed)
            await record_event(connection, vendor_id, actor, "profile.set", "profile updated", now)

    async def profile(self, vendor_id: VendorId) -> VendorProfile:
        query = select(vendor_profiles).where(vendor_profiles.c.vendor_id == vendor_id)
        async with self._db.connect() as connection:
            row = (await connection.execute(query)).one_or_none()
        if row is None:
            return VendorProfile()
        document = loads(row.details) if row.details else {}
        contacts: dict[str, str] = {}
        if row.contacts is not None:
            contacts = orjson.loads(
                await self._cipher.decrypt(bytes(row.contacts), _contacts_context(vendor_id))
            )
        return VendorProfile(
            legal_name=document.get("legal_name", ""), jurisdictions=tuple(document.get("jurisdictions", ())),
            services=tuple(document.get("services", ())),
            data_categories=tuple(document.get("data_categories", ())), contacts=contacts,
        )  # fmt: skip

    async def suspend(self, vendor_id: VendorId, reason: str, actor: str, now: datetime) -> None:
        """Suspend the vendor and revoke every token its clients hold (issued up to ``now``)."""
        await self._require(vendor_id, VendorStatus.suspended)
        async with self._db.begin() as connection:
            await self._upsert(
                connection,
                vendor_id,
                now,
                suspended_reason=reason,
                suspended_at=now,
                tokens_revoked_before=now,
            )
            await connection.execute(
                update(vendors).where(vendors.c.id == vendor_id).values(status=VendorStatus.suspended.value)
            )
            await record_event(connection, vendor_id, actor, "vendor.suspend", reason, now)

    async def reinstate(self, vendor_id: VendorId, actor: str, now: datetime) -> None:
        """Lift a suspension and the access effect of open incidents (they stay open until closed).

        Tokens revoked by the suspension stay revoked: the vendor's clients get new ones.
        A terminated vendor is not reinstated (RegistrationError): termination is final.
        """
        await self._require(vendor_id, VendorStatus.active)
        async with self._db.begin() as connection:
            await self._upsert(connection, vendor_id, now, suspended_reason=None, suspended_at=None)
            await connection.execute(
                update(vendors).where(vendors.c.id == vendor_id).values(status=VendorStatus.active.value)
            )
            for incident in await self._incidents(connection, vendor_id):
                if incident.restricts:
                    await self._save_incident(connection, replace(incident, restored_at=now))
            await record_event(connection, vendor_id, actor, "vendor.reinstate", "access reinstated", now)

    # --- assessments and incidents ------------------------------------------------------------------------

    async def add_assessment(self, item: Assessment, actor: str) -> None:
        await self._require(item.vendor_id)
        values = {
            "id": item.id, "vendor_id": item.vendor_id, "band": item.rating.band.value,
            "details": dumps(assessment_document(item)), "assessed_at": item.assessed_at,
        }  # fmt: skip
        detail = f"{item.id} rated {item.rating.band.value} ({item.rating.score})"
        async with self._db.begin() as connection:
            await connection.execute(insert(vendor_assessments).values(values))
            await record_event(connection, item.vendor_id, actor, "assessment.add", detail, item.assessed_at)

    async def assessments(self, vendor_id: VendorId) -> list[Assessment]:
        table = vendor_assessments
        query = select(table).where(table.c.vendor_id == vendor_id).order_by(table.c.assessed_at)
        async with self._db.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [assessment_of(r.id, r.vendor_id, r.band, r.details, r.assessed_at) for r in rows]

    async def record_incident(self, item: Incident, actor: str) -> None:
        """Record an incident: its vendor's clients' tokens are revoked at once (issued up to now)."""
        await self._require(item.vendor_id)
        values = {
            "id": item.id, "vendor_id": item.vendor_id, "status": item.status.value,
            "details": dumps(incident_document(item)), "recorded_at": item.recorded_at,
        }  # fmt: skip
        try:
            async with self._db.begin() as connection:
                await self._record_incident(connection, item, values, actor)
        except IntegrityError:  # the id is taken: a webhook report sent twice with one idempotency key
            raise RegistrationError("incident_id", f"'{item.id}' is already recorded") from None

    async def _record_incident(
        self, connection: AsyncConnection, item: Incident, values: dict[str, Any], actor: str
    ) -> None:
        await connection.execute(insert(vendor_incidents).values(values))
        await self._upsert(
            connection, item.vendor_id, item.recorded_at, tokens_revoked_before=item.recorded_at
        )
        await record_event(
            connection,
            item.vendor_id,
            actor,
            "incident.record",
            f"{item.id} ({item.source})",
            item.recorded_at,
        )

    async def update_incident(self, item: Incident, actor: str, action: str, now: datetime) -> None:
        async with self._db.begin() as connection:
            await self._save_incident(connection, item)
            await record_event(connection, item.vendor_id, actor, action, item.id, now)

    async def incident(self, incident_id: str) -> Incident:
        query = select(vendor_incidents).where(vendor_incidents.c.id == incident_id)
        async with self._db.connect() as connection:
            row = (await connection.execute(query)).one_or_none()
        if row is None:
            raise NotRegistered(f"No incident '{incident_id[:40]}' is recorded.")
        return incident_of(row.id, row.vendor_id, row.status, row.details, row.recorded_at)

    async def incidents(self, vendor_id: VendorId | None = None) -> list[Incident]:
        async with self._db.connect() as connection:
            return await self._incidents(connection, vendor_id)

    async def events(self, vendor_id: VendorId) -> list[VendorEvent]:
        table = vendor_events
        query = select(table).where(table.c.vendor_id == vendor_id).order_by(table.c.id)
        async with self._db.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [VendorEvent(as_utc(r.at), r.actor, r.action, r.detail) for r in rows]

    # --- the dossier every node reads -----------------------------------------------------------------------

    async def dossier(self, vendor_id: VendorId) -> Dossier:
        async with self._db.connect() as connection:
            vendor = (
                await connection.execute(select(vendors.c.id).where(vendors.c.id == vendor_id))
            ).one_or_none()
            if vendor is None:
                return Dossier(vendor_id, known=False)
            query = select(vendor_profiles).where(vendor_profiles.c.vendor_id == vendor_id)
            profile = (await connection.execute(query)).one_or_none()
            incidents = await self._incidents(connection, vendor_id)
            clients = (
                await connection.execute(
                    select(oauth_clients.c.client_id, oauth_clients.c.scopes).where(
                        oauth_clients.c.vendor_id == vendor_id
                    )
                )
            ).all()
            subprocessors = await self.subprocessors.read(connection, vendor_id)
        assessments = await self.assessments(vendor_id)
        suspension = None
        if profile is not None and profile.suspended_at is not None:
            suspension = Suspension(profile.suspended_reason or "", as_utc(profile.suspended_at))
        details = loads(profile.details) if profile is not None and profile.details else {}
        revoked = profile.tokens_revoked_before if profile is not None else None
        return Dossier(
            vendor_id=vendor_id, suspension=suspension,
            evidence=tuple(await self.documents.evidence(vendor_id)),
            agreements=tuple(await self.documents.agreements(vendor_id)),
            assessment=assessments[-1] if assessments else None, incidents=tuple(incidents),
            jurisdictions=frozenset(details.get("jurisdictions", ())),
            tokens_revoked_before=as_utc(revoked) if revoked is not None else None,
            client_scopes={ClientId(row.client_id): row.scopes for row in clients},
            subprocessors=tuple(subprocessors), offboarding=await self.offboarding.attestation(vendor_id),
        )  # fmt: skip

    # --- plumbing -----------------------------------------------------------------------------------------

    async def _require(self, vendor_id: VendorId, becomes: VendorStatus | None = None) -> None:
        """The vendor must exist, and may move to ``becomes`` (a terminated vendor moves nowhere)."""
        vendor = await self.registry.get(vendor_id)
        if vendor is None:
            raise NotRegistered(f"No vendor '{vendor_id}' is registered (see `phigate vendor list`).")
        if becomes is not None:
            vendor.moved_to(becomes)

    async def _upsert(
        self, connection: AsyncConnection, vendor_id: VendorId, now: datetime, **changes: Any
    ) -> None:
        await upsert_profile(connection, self._db.dialect, vendor_id, now, **changes)

    async def _incidents(self, connection: AsyncConnection, vendor_id: VendorId | None) -> list[Incident]:
        table = vendor_incidents
        query = select(table).order_by(table.c.recorded_at)
        if vendor_id is not None:
            query = query.where(table.c.vendor_id == vendor_id)
        rows = (await connection.execute(query)).all()
        return [incident_of(r.id, r.vendor_id, r.status, r.details, r.recorded_at) for r in rows]

    async def _save_incident(self, connection: AsyncConnection, item: Incident) -> None:
        values = {"status": item.status.value, "details": dumps(incident_document(item))}
        await connection.execute(
            update(vendor_incidents).where(vendor_incidents.c.id == item.id).values(values)
        )


def _contacts_context(vendor_id: str) -> bytes:
    return json.dumps(["vendor_profiles", "contacts", vendor_id], separators=(",", ":")).encode()
