"""Evidence of a vendor's security: SOC 2 Type II reports, ISO 27001 certificates, penetration tests.

Each item is dated, so its validity on a given day is a pure function
(:func:`valid_until`): a SOC 2 report counts for ``soc2_valid_months`` after its
period ends, or until its bridge letter's end when that is later; an ISO
certificate until its expiry (then a grace period, applied by the posture
engine); a pen-test report for ``pentest_valid_days`` after it was performed.
An attached file is kept encrypted by the store; the record holds its SHA-256.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from phigate.types import VendorId
from phigate.vendors.records import RegistrationError, check_name

_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024


class EvidenceKind(StrEnum):
    soc2_type2 = "soc2_type2"
    iso27001 = "iso27001"
    pentest = "pentest"


@dataclass(frozen=True)
class Attachment:
    """An evidence file as the registry describes it: its name, size and SHA-256 (the bytes are sealed)."""

    name: str
    sha256: str
    size: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", check_name(self.name, "attachment"))
        if not _SHA256.fullmatch(self.sha256):
            raise RegistrationError("attachment", "sha256 must be 64 lower-case hex digits")
        if not 0 < self.size <= MAX_ATTACHMENT_BYTES:
            raise RegistrationError("attachment", f"must hold 1 byte to {MAX_ATTACHMENT_BYTES // 2**20} MiB")


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """One dated evidence item. Which fields are required depends on ``kind`` (checked when built).

    - soc2_type2: ``issuer`` (the auditor), ``period_start`` <= ``period_end``,
      ``exceptions`` (count of exceptions noted), optional ``bridge_until``;
    - iso27001: ``number``, ``issuer`` (the certification body), ``expires_on``;
    - pentest: ``issuer`` (the tester), ``performed_on``, ``open_findings`` (critical or high).
    """

    id: str
    vendor_id: VendorId
    kind: EvidenceKind
    recorded_at: datetime
    issuer: str
    period_start: date | None = None
    period_end: date | None = None
    bridge_until: date | None = None
    exceptions: int = 0
    number: str | None = None
    expires_on: date | None = None
    performed_on: date | None = None
    open_findings: int = 0
    scope: str = ""
    attachment: Attachment | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _kind(self.kind))
        object.__setattr__(self, "issuer", check_name(self.issuer, "issuer"))
        if self.exceptions < 0 or self.open_findings < 0:
            raise RegistrationError("exceptions", "counts cannot be negative")
        {
            EvidenceKind.soc2_type2: self._check_soc2,
            EvidenceKind.iso27001: self._check_iso,
            EvidenceKind.pentest: self._check_pentest,
        }[self.kind]()

    def _check_soc2(self) -> None:
        if self.period_start is None or self.period_end is None or self.period_start > self.period_end:
            raise RegistrationError("period", "a SOC 2 Type II report needs period_start <= period_end")
        if self.bridge_until is not None and self.bridge_until < self.period_end:
            raise RegistrationError("bridge_until", "a bridge letter covers time after the report period")

    def _check_iso(self) -> None:
        if not self.number or self.expires_on is None:
            raise RegistrationError("number", "an ISO 27001 certificate needs its number and expiry date")
        object.__setattr__(self, "number", check_name(self.number, "number"))

    def _check_pentest(self) -> None:
        if self.performed_on is None:
            raise RegistrationError(
                "performed_on", "a penetration-test report needs the date it was performed"
            )

    @property
    def label(self) -> str:
        return {
            EvidenceKind.soc2_type2: "SOC 2 Type II report",
            EvidenceKind.iso27001: f"ISO 27001 certificate {self.number}",
            EvidenceKind.pentest: "penetration-test report",
        }[self.kind]

    @property
    def dated(self) -> date:
        """The date that orders items of one kind: the newest is the one that counts."""
        return {
            EvidenceKind.soc2_type2: self.period_end,
            EvidenceKind.iso27001: self.expires_on,
            EvidenceKind.pentest: self.performed_on,
        }[self.kind] or date.min


def valid_until(item: Evidence, *, soc2_valid_months: int, pentest_valid_days: int) -> date:
    """The last day ``item`` counts as current evidence (before any grace period)."""
    if item.kind is EvidenceKind.soc2_type2:
        assert item.period_end is not None  # checked when built
        through = add_months(item.period_end, soc2_valid_months)
        return max(through, item.bridge_until) if item.bridge_until is not None else through
    if item.kind is EvidenceKind.iso27001:
        assert item.expires_on is not None
        return item.expires_on
    assert item.performed_on is not None
    return item.performed_on + timedelta(days=pentest_valid_days)


def add_months(day: date, months: int) -> date:
    """``day`` plus whole months, clamped to the month's end (2026-01-31 + 1 month -> 2026-02-28)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def latest(items: list[Evidence], kind: EvidenceKind) -> Evidence | None:
    """The newest item of ``kind`` (latest period end, expiry or test date), or None."""
    of_kind = [item for item in items if item.kind is kind]
    return max(of_kind, key=lambda item: (item.dated, item.recorded_at)) if of_kind else None


def _kind(value: str) -> EvidenceKind:
    try:
        return EvidenceKind(value)
    except ValueError:
        raise RegistrationError("kind", f"must be one of {', '.join(EvidenceKind)}") from None
