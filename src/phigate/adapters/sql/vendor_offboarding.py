"""Offboarding in the durable store: the attestation, sealed, and termination's effects in one transaction.

The signed return-or-destroy attestation is sealed by the keyring (bound to
its table, row and vendor) next to the SHA-256 of its plaintext, checked again
whenever it is read back, as evidence attachments are. :meth:`SqlOffboarding.offboard`
writes, atomically: the attestation, the vendor's ``terminated`` status (only
from a live status: a second offboarding finds none and changes nothing), the
revocation of every token its clients hold, the end of its agreements still
running, and the disabling of its clients.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from phigate.adapters.sql.database import Database
from phigate.adapters.sql.schema import oauth_clients, vendor_agreements, vendor_offboardings, vendors
from phigate.adapters.sql.vendor_codec import agreement_document, attestation_document, attestation_of, dumps
from phigate.adapters.sql.vendor_evidence import record_event, sealing_context, sha256_hex, upsert_profile
from phigate.errors import KeyStoreError
from phigate.ports import DataCipher
from phigate.types import VendorId
from phigate.vendors.clients import ClientStatus
from phigate.vendors.offboarding import Attestation, Termination
from phigate.vendors.records import RegistrationError, VendorStatus

_T = vendor_offboardings


class SqlOffboarding:
    def __init__(self, db: Database, cipher: DataCipher) -> None:
        self._db = db
        self._cipher = cipher

    async def attestation(self, vendor_id: VendorId) -> Attestation | None:
        query = select(_T).where(_T.c.vendor_id == vendor_id).order_by(_T.c.recorded_at.desc()).limit(1)
        async with self._db.connect() as connection:
            row = (await connection.execute(query)).one_or_none()
        if row is None:
            return None
        return attestation_of(row.id, row.vendor_id, row.details, row.recorded_at, row.file_sha256)

    async def offboard(
        self, termination: Termination, attestation: Attestation, content: bytes | None, actor: str
    ) -> int:
        """Terminate the vendor as planned; the number of clients disabled.

        ``content`` is the signed file (its hash must be the attestation's); None only for a record
        imported from a registry file, which names the file by its hash.
        """
        sealed = await self._sealed(attestation, content)
        async with self._db.begin() as connection:
            await _terminate(connection, termination, attestation, sealed)
            now = attestation.recorded_at
            await upsert_profile(
                connection, self._db.dialect, attestation.vendor_id, now, tokens_revoked_before=now
            )
            for agreement in termination.agreements:
                document = dumps(agreement_document(agreement))
                await connection.execute(
                    update(vendor_agreements)
                    .where(vendor_agreements.c.id == agreement.id)
                    .values(details=document)
                )
            disabled = await _disable_clients(connection, attestation.vendor_id, now)
            detail = (
                f"{attestation.id} {attestation.disposition.value}; {len(termination.agreements)} "
                f"agreement(s) terminated, {disabled} client(s) disabled, tokens revoked"
            )
            await record_event(connection, attestation.vendor_id, actor, "vendor.offboard", detail, now)
        return disabled

    async def document(self, vendor_id: VendorId) -> bytes | None:
        """The signed attestation, decrypted and checked against its recorded hash (None: imported)."""
        query = select(_T.c.id, _T.c.document, _T.c.file_sha256).where(_T.c.vendor_id == vendor_id)
        async with self._db.connect() as connection:
            row = (await connection.execute(query)).first()
        if row is None or row.document is None:
            return None
        content = await self._cipher.decrypt(bytes(row.document), sealing_context(_T.name, row.id, vendor_id))
        if sha256_hex(content) != row.file_sha256:
            raise KeyStoreError("A stored attestation does not match its recorded hash.")
        return content

    async def _sealed(self, attestation: Attestation, content: bytes | None) -> bytes | None:
        if content is None:
            return None
        if sha256_hex(content) != attestation.document.sha256 or len(content) != attestation.document.size:
            raise RegistrationError("attestation", "the file is not the one the attestation describes")
        context = sealing_context(_T.name, attestation.id, attestation.vendor_id)
        return await self._cipher.encrypt(content, context)


async def _terminate(
    connection: AsyncConnection, termination: Termination, attestation: Attestation, sealed: bytes | None
) -> None:
    """The vendor's status, only from a live one (a second offboarding changes nothing); the attestation."""
    vendor_id = attestation.vendor_id
    live = vendors.c.status != VendorStatus.terminated.value
    status = termination.vendor.status.value
    ended = await connection.execute(
        update(vendors).where(vendors.c.id == vendor_id, live).values(status=status)
    )
    if not ended.rowcount:
        raise RegistrationError("status", f"vendor {vendor_id} is terminated already")
    values = {
        "id": attestation.id, "vendor_id": vendor_id, "details": dumps(attestation_document(attestation)),
        "document": sealed, "file_sha256": attestation.document.sha256,
        "recorded_at": attestation.recorded_at,
    }  # fmt: skip
    await connection.execute(insert(_T).values(values))


async def _disable_clients(connection: AsyncConnection, vendor_id: VendorId, now: datetime) -> int:
    clients = oauth_clients
    result = await connection.execute(
        update(clients)
        .where(clients.c.vendor_id == vendor_id, clients.c.status != ClientStatus.disabled.value)
        .values(status=ClientStatus.disabled.value, updated_at=now)
    )
    return int(result.rowcount)
