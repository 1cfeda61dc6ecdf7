"""The vendor record: the third party that owns OAuth clients, and its registry's contract.

Kept deliberately small: the vendor's evidence, agreements and posture (issue 9)
extend this record and its table later; nothing here should need to change for that.
"""

from __future__ import annotations

import builtins
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from phigate.errors import NotFound, RequestError
from phigate.types import VendorId

_VENDOR_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
NAME_MAX = 200


class RegistrationError(RequestError):
    """A vendor or client record that phigate refuses to store; ``field`` names the offending field.

    The message starts with the field name (``scopes: ...``) so that a CLI, the admin
    API and a log line all say which input to correct.
    """

    message = "The registration is not valid."

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        super().__init__(f"{field}: {reason}")


class NotRegistered(NotFound):
    """No vendor or client has the given id."""

    message = "No such vendor or client is registered."


class VendorStatus(StrEnum):
    active = "active"
    suspended = "suspended"  # its clients get no new tokens (enforced by the posture stage, issue 9)
    terminated = "terminated"  # offboarded: no way back (a new relationship is a new vendor record)


# The vendor's life cycle. Termination is final, and is reached only with a return-or-destroy
# attestation (compliance-controls A.11: GDPR Art. 28(3)(g), HIPAA §164.504(e)(2)(ii)(J), APP 11.2).
TRANSITIONS: dict[VendorStatus, frozenset[VendorStatus]] = {
    VendorStatus.active: frozenset(VendorStatus),
    VendorStatus.suspended: frozenset(VendorStatus),
    VendorStatus.terminated: frozenset(),
}


@dataclass(frozen=True)
class Vendor:
    id: VendorId
    name: str
    created_at: datetime
    status: VendorStatus = field(default=VendorStatus.active)

    def __post_init__(self) -> None:
        check_vendor_id(self.id)
        object.__setattr__(self, "name", check_name(self.name, "name"))
        object.__setattr__(self, "status", _status(self.status))

    def moved_to(self, status: VendorStatus, *, attestation: str | None = None) -> Vendor:
        """The vendor in ``status``; ``attestation`` names the return-or-destroy attestation (termination).

        Raises RegistrationError for a move the life cycle does not allow (anything out of
        ``terminated``), and for termination without an attestation.
        """
        if status not in TRANSITIONS[self.status]:
            raise RegistrationError(
                "status", f"vendor {self.id} is {self.status.value}; it cannot become {status.value}"
            )
        if status is VendorStatus.terminated and not attestation:
            reason = "a vendor is terminated only with a return-or-destroy attestation (a signed file)"
            raise RegistrationError("attestation", reason)
        return replace(self, status=status)


def check_vendor_id(value: str) -> VendorId:
    if not _VENDOR_ID.fullmatch(value):
        raise RegistrationError(
            "vendor_id", "use 1 to 64 lower-case letters, digits and inner hyphens (such as acme-labs)"
        )
    return VendorId(value)


def check_name(value: str, where: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise RegistrationError(where, f"give 1 to {NAME_MAX} printable characters")
    return name


def vendor_slug(name: str) -> VendorId:
    """A readable vendor id from a name: ``Acme Labs, Inc.`` -> ``acme-labs-inc``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64].strip("-")
    if not slug:
        raise RegistrationError("name", "has no letters or digits to make a vendor id from: give --id")
    return VendorId(slug)


def _status(value: str) -> VendorStatus:
    try:
        return VendorStatus(value)
    except ValueError:
        raise RegistrationError("status", f"must be one of {', '.join(VendorStatus)}") from None


class VendorRegistry(Protocol):
    """The durable record of vendors, shared by every gateway node.

    ``get`` returns ``None`` for an unknown id. ``add`` raises RegistrationError when
    the id is taken. ``remove`` raises RegistrationError while the vendor owns any
    client (active or disabled: client records outlive their use, for the audit
    trail) and NotRegistered for an unknown id.
    """

    async def add(self, vendor: Vendor) -> None: ...

    async def get(self, vendor_id: VendorId) -> Vendor | None: ...

    async def list(self) -> builtins.list[Vendor]:
        """Every vendor, ordered by id."""
        ...

    async def remove(self, vendor_id: VendorId) -> None: ...
