"""Offboarding a vendor: the return-or-destroy attestation and what termination does (A.11).

GDPR Art. 28(3)(g), HIPAA §164.504(e)(2)(ii)(J) and APP 11.2 want the vendor to
return or destroy the personal data it holds when the relationship ends. A
vendor (and each of its agreements) moves to ``terminated`` only together with
an :class:`Attestation`: who signed for the vendor, when, what was done with
the data, and the signed file itself (kept encrypted by the store, with its
SHA-256, like an evidence attachment). The life cycle is checked by
:meth:`phigate.vendors.records.Vendor.moved_to` and
:meth:`phigate.vendors.agreements.Agreement.terminated`; this module names the
pieces and plans the termination.

Termination is final and takes effect at once: the vendor's tokens are revoked,
its clients disabled, its agreements in force end on the day, and its standing
is ``terminated`` with the reason on every node.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from phigate.types import VendorId
from phigate.vendors.agreements import Agreement
from phigate.vendors.evidence import Attachment
from phigate.vendors.records import RegistrationError, Vendor, VendorStatus, check_name


class Disposition(StrEnum):
    """What the vendor did with the data it held."""

    returned = "returned"
    destroyed = "destroyed"
    returned_and_destroyed = "returned_and_destroyed"  # returned, then its own copies destroyed


@dataclass(frozen=True, kw_only=True)
class Attestation:
    id: str
    vendor_id: VendorId
    disposition: Disposition
    signed_by: str  # the vendor's signatory (name and role), as on the document
    signed_on: date
    recorded_at: datetime
    document: Attachment  # the signed attestation: required, sealed by the store
    reason: str = ""  # why the relationship ended (registry only: never shown to the vendor)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "disposition", Disposition(self.disposition))
        except ValueError:
            raise RegistrationError("disposition", f"must be one of {', '.join(Disposition)}") from None
        object.__setattr__(self, "signed_by", check_name(self.signed_by, "signed_by"))
        if self.signed_on > self.recorded_at.date():
            raise RegistrationError("signed_on", "the attestation cannot be signed after it is recorded")
        if self.reason:
            object.__setattr__(self, "reason", check_name(self.reason, "reason"))

    @property
    def posture_reason(self) -> str:
        """The standing's reason, safe to show the vendor: dates only."""
        return f"Vendor offboarded on {self.recorded_at.date().isoformat()}; access ended"


@dataclass(frozen=True)
class Termination:
    """What offboarding writes, decided before anything is: the vendor, and each agreement ended."""

    vendor: Vendor
    agreements: tuple[Agreement, ...]


def plan_termination(
    vendor: Vendor, agreements: list[Agreement], attestation: Attestation | None
) -> Termination:
    """The vendor terminated, and every agreement of it still running ended the day it is recorded.

    Raises RegistrationError without an attestation, or for a vendor already terminated.
    """
    ended = vendor.moved_to(VendorStatus.terminated, attestation=attestation.id if attestation else None)
    assert attestation is not None  # moved_to refuses termination without one
    if attestation.vendor_id != vendor.id:
        raise RegistrationError("attestation", "the attestation is another vendor's")
    today = attestation.recorded_at.date()
    running = [a for a in agreements if a.terminated_on is None and a.valid_until >= today]
    return Termination(ended, tuple(a.terminated(today, attestation.id) for a in running))
