"""Everything the posture engine reads about one vendor, as one value, and the port that loads it.

A dossier is a snapshot: the gateway keeps one per vendor for a few seconds
(``vendors.cache_seconds``) and evaluates the posture from it on every request
with the current time, so an expiry takes effect on the second it happens while
a change in the registry reaches every node within the cache time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from phigate.types import ClientId, VendorId
from phigate.vendors.agreements import Agreement
from phigate.vendors.assessment import Assessment
from phigate.vendors.evidence import Evidence
from phigate.vendors.incidents import Incident
from phigate.vendors.offboarding import Attestation
from phigate.vendors.subprocessors import Subprocessor


@dataclass(frozen=True)
class Suspension:
    """An administrator's suspension; ``reason`` is for the registry and report, never shown to the vendor."""

    reason: str
    at: datetime


@dataclass(frozen=True)
class Dossier:
    vendor_id: VendorId
    known: bool = True  # False: no vendor of that id (its clients are refused)
    suspension: Suspension | None = None
    evidence: tuple[Evidence, ...] = ()
    agreements: tuple[Agreement, ...] = ()
    assessment: Assessment | None = None
    incidents: tuple[Incident, ...] = ()
    jurisdictions: frozenset[str] = frozenset()  # where the vendor processes data (EU needs a DPA)
    tokens_revoked_before: datetime | None = None  # tokens issued earlier are refused (incidents)
    client_scopes: Mapping[ClientId, str] = field(default_factory=dict)  # current registered ceilings
    subprocessors: tuple[Subprocessor, ...] = ()  # the list and its changes, decided or pending (A.4)
    offboarding: Attestation | None = None  # set once the vendor is terminated (A.11)

    @property
    def managed(self) -> bool:
        """Whether risk management has begun for this vendor (anything is on record)."""
        return bool(self.evidence or self.agreements or self.assessment is not None)


class DossierSource(Protocol):
    """Loads one vendor's dossier from the registry every node shares.

    Returns a dossier with ``known=False`` for an unknown vendor. Raises
    :class:`phigate.errors.StorageError` when the registry cannot be read: the
    caller refuses the request (fail closed). Safe to call concurrently.
    """

    async def dossier(self, vendor_id: VendorId) -> Dossier: ...
