"""Vendors in the durable store (:class:`phigate.vendors.records.VendorRegistry`)."""

from __future__ import annotations

import builtins

from sqlalchemy import Row, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from phigate.adapters.sql.database import Database, as_utc
from phigate.adapters.sql.schema import oauth_clients, vendors
from phigate.types import VendorId
from phigate.vendors.records import NotRegistered, RegistrationError, Vendor, VendorStatus


class SqlVendorRegistry:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, vendor: Vendor) -> None:
        values = {
            "id": vendor.id,
            "name": vendor.name,
            "status": vendor.status.value,
            "created_at": vendor.created_at,
        }
        try:
            async with self._db.begin() as connection:
                await connection.execute(insert(vendors).values(values))
        except IntegrityError:
            raise RegistrationError("vendor_id", f"'{vendor.id}' is already registered") from None

    async def get(self, vendor_id: VendorId) -> Vendor | None:
        async with self._db.connect() as connection:
            row = (await connection.execute(select(vendors).where(vendors.c.id == vendor_id))).one_or_none()
        return None if row is None else _vendor(row)

    async def list(self) -> builtins.list[Vendor]:
        async with self._db.connect() as connection:
            rows = (await connection.execute(select(vendors).order_by(vendors.c.id))).all()
        return [_vendor(row) for row in rows]

    async def remove(self, vendor_id: VendorId) -> None:
        owned = select(func.count()).select_from(oauth_clients).where(oauth_clients.c.vendor_id == vendor_id)
        try:
            async with self._db.begin() as connection:
                count = (await connection.execute(owned)).scalar_one()
                if count:
                    raise RegistrationError(
                        "vendor_id",
                        f"'{vendor_id}' owns {count} client(s) and cannot be removed; disable them instead",
                    )
                result = await connection.execute(delete(vendors).where(vendors.c.id == vendor_id))
        except IntegrityError:  # a client was added between the count and the delete
            raise RegistrationError(
                "vendor_id", f"'{vendor_id}' owns clients and cannot be removed"
            ) from None
        if not result.rowcount:
            raise NotRegistered(f"No vendor '{vendor_id}' is registered.")


def _vendor(row: Row[tuple[object, ...]]) -> Vendor:
    return Vendor(
        id=VendorId(row.id),
        name=row.name,
        status=VendorStatus(row.status),
        created_at=as_utc(row.created_at),
    )
