"""Vendor security incidents: the register, its notification clocks, and closure.

Recording an incident suspends the vendor (or makes it read-only, by policy)
while it is open, and revokes every token its clients hold: tokens issued
before ``recorded_at`` are refused even after reinstatement. The clocks
(compliance-controls H.42) start at ``aware_at``:

- ``contract``: the vendor's breach-notification window from its agreements (BA -> CE, capped at 60 days);
- ``gdpr``: the supervisory authority within 72 hours (Art. 33), when EU data is involved;
- ``hipaa``: individuals and, for a large breach, HHS within 60 days (§§164.404-408), for US data;
- ``ndb``: the Australian NDB assessment within 30 days (s26WH), for AU data;
- ``mhr``: My Health Record: as soon as practicable (s75), due at once.

An incident is closed only with its risk assessment (H.45: the four factors of
§164.402, the notify decision and the remediation).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from phigate.types import VendorId
from phigate.vendors.records import RegistrationError, check_name

JURISDICTIONS = frozenset({"US", "EU", "AU", "AU-MHR"})
HIPAA_BA_MAX = timedelta(days=60)

# clock name -> (jurisdiction that starts it, deadline after aware_at, what must be done)
STATUTORY_CLOCKS: dict[str, tuple[str, timedelta, str]] = {
    "gdpr": ("EU", timedelta(hours=72), "notify the supervisory authority (GDPR Art. 33)"),
    "hipaa": ("US", timedelta(days=60), "notify individuals and HHS (HIPAA §§164.404-408)"),
    "ndb": ("AU", timedelta(days=30), "complete the NDB assessment (Privacy Act s26WH)"),
    "mhr": ("AU-MHR", timedelta(0), "notify the System Operator as soon as practicable (MHR Act s75)"),
}
ASSESSMENT_FIELDS = ("nature_extent", "unauthorized_recipient", "acquired_or_viewed", "mitigation")


class IncidentStatus(StrEnum):
    open = "open"
    closed = "closed"


@dataclass(frozen=True)
class Clock:
    name: str
    due_at: datetime
    duty: str
    met_at: datetime | None = None

    def overdue(self, now: datetime) -> bool:
        return self.met_at is None and now > self.due_at


@dataclass(frozen=True, kw_only=True)
class Incident:
    id: str
    vendor_id: VendorId
    summary: str
    aware_at: datetime
    recorded_at: datetime
    jurisdictions: frozenset[str] = frozenset()
    source: str = "cli"  # cli, admin-api, webhook
    status: IncidentStatus = IncidentStatus.open
    met: dict[str, datetime] = field(default_factory=dict)  # clock name -> when the duty was met
    assessment: dict[str, str] = field(default_factory=dict)  # H.45: four factors, decision, remediation
    closed_at: datetime | None = None
    restored_at: datetime | None = None  # access reinstated while the incident stays open for tracking

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", check_name(self.summary, "summary"))
        unknown = sorted(self.jurisdictions - JURISDICTIONS)
        if unknown:
            raise RegistrationError(
                "jurisdictions", f"unknown {', '.join(unknown)}: use {', '.join(sorted(JURISDICTIONS))}"
            )
        if self.aware_at > self.recorded_at:
            raise RegistrationError("aware_at", "cannot be after the incident was recorded")
        object.__setattr__(self, "status", IncidentStatus(self.status))

    @property
    def open(self) -> bool:
        return self.status is IncidentStatus.open

    @property
    def restricts(self) -> bool:
        """Whether it still limits the vendor's access: open and not reinstated."""
        return self.open and self.restored_at is None

    def clocks(self, contract_hours: int | None) -> list[Clock]:
        """Every notification clock that applies, soonest first."""
        clocks = [
            Clock(name, self.aware_at + after, duty, self.met.get(name))
            for name, (where, after, duty) in STATUTORY_CLOCKS.items()
            if where in self.jurisdictions
        ]
        if contract_hours is not None:
            window = min(timedelta(hours=contract_hours), HIPAA_BA_MAX)
            duty = f"the vendor's contractual breach notice ({contract_hours} h)"
            clocks.append(Clock("contract", self.aware_at + window, duty, self.met.get("contract")))
        return sorted(clocks, key=lambda clock: (clock.due_at, clock.name))

    def with_notice(self, clock: str, at: datetime) -> Incident:
        if clock not in (*STATUTORY_CLOCKS, "contract"):
            raise RegistrationError("clock", f"unknown clock '{clock[:40]}'")
        return replace(self, met={**self.met, clock: at})

    def closed(self, assessment: dict[str, str], at: datetime) -> Incident:
        """The incident closed with its risk assessment; refused while any field is missing (H.45)."""
        if not self.open:
            raise RegistrationError("status", "the incident is already closed")
        required = (*ASSESSMENT_FIELDS, "decision", "remediation")
        missing = [name for name in required if not assessment.get(name, "").strip()]
        if missing:
            raise RegistrationError("assessment", f"closing needs {', '.join(missing)}")
        if assessment["decision"] not in ("notify", "no-notify"):
            raise RegistrationError("assessment", "decision is notify or no-notify")
        clean = {name: check_name(assessment[name], name) for name in required}
        return replace(self, status=IncidentStatus.closed, assessment=clean, closed_at=at)
