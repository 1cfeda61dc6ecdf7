"""A vendor's agreements: HIPAA BAA, GDPR Art. 28 DPA, data-sharing agreement.

An agreement is *active* on a day when it is in force (``valid_from`` <= day <=
``valid_until``) and not terminated; it is terminated only together with a
return-or-destroy attestation (A.11, see :mod:`phigate.vendors.offboarding`).
A BAA or DPA is refused at registration unless every mandatory clause of its
checklist is ticked (compliance-controls A.2, A.3): an incomplete agreement
would look like protection it does not give. A breach-notification window
longer than the configured maximum is accepted but flagged (A.8), so that our
own 72-hour GDPR clock can still be met.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from phigate.types import VendorId
from phigate.vendors.records import RegistrationError, check_name

_SHA256 = re.compile(r"[0-9a-f]{64}")
_WORD = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_NO_ATTESTATION = (
    "an agreement is terminated only with a return-or-destroy attestation (phigate vendor offboard)"
)


class AgreementKind(StrEnum):
    baa = "baa"  # HIPAA business associate agreement, §164.504(e)
    dpa = "dpa"  # GDPR Art. 28 data processing agreement
    dsa = "dsa"  # data-sharing agreement: permitted purposes and data categories


# §164.504(e)(2) and §164.314(a)(2): the content every BAA must have (compliance-controls A.2).
BAA_CLAUSES: dict[str, str] = {
    "permitted_uses": "permitted and required uses and disclosures",
    "no_other_use": "no other use or disclosure",
    "safeguards": "Subpart C safeguards",
    "report_incidents": "reporting of non-permitted uses, security incidents and breaches (§164.410)",
    "subcontractors": "subcontractor flow-down",
    "individual_rights": "support for §164.524 access, §164.526 amendment and §164.528 accounting",
    "hhs_access": "books and records available to HHS",
    "return_or_destroy": "return or destroy at termination",
    "termination": "termination on material breach",
}

# GDPR Art. 28(3)(a)-(h) (compliance-controls A.3).
DPA_CLAUSES: dict[str, str] = {
    "a": "processing only on documented instructions",
    "b": "confidentiality of persons authorised to process",
    "c": "Art. 32 security measures",
    "d": "conditions for engaging another processor",
    "e": "assistance with data subjects' rights",
    "f": "assistance with Arts 32-36 (security, breach notification, DPIA)",
    "g": "deletion or return at the end of the services",
    "h": "information and audits to demonstrate compliance",
}

MANDATORY_CLAUSES: dict[AgreementKind, dict[str, str]] = {
    AgreementKind.baa: BAA_CLAUSES,
    AgreementKind.dpa: DPA_CLAUSES,
    AgreementKind.dsa: {},
}

LABELS = {
    AgreementKind.baa: "HIPAA business associate agreement",
    AgreementKind.dpa: "GDPR data processing agreement",
    AgreementKind.dsa: "data-sharing agreement",
}


@dataclass(frozen=True, kw_only=True)
class Agreement:
    id: str
    vendor_id: VendorId
    kind: AgreementKind
    valid_from: date
    valid_until: date
    recorded_at: datetime
    clauses: frozenset[str] = frozenset()
    breach_notice_hours: int | None = None
    purposes: tuple[str, ...] = ()  # data-sharing: permitted purposes (e.g. treatment, payment, research)
    data_categories: tuple[str, ...] = ()  # e.g. lab-results, demographics, claims
    security_clauses: tuple[str, ...] = ()  # free-form security commitments, each a short phrase
    file_sha256: str | None = None  # the signed document's hash (A.1: "file hash recorded")
    terminated_on: date | None = None
    termination_attestation: str | None = None  # the return-or-destroy attestation termination needs (A.11)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", AgreementKind(self.kind))
        except ValueError:
            raise RegistrationError("kind", f"must be one of {', '.join(AgreementKind)}") from None
        if self.valid_from > self.valid_until:
            raise RegistrationError("valid_until", "an agreement ends on or after the day it starts")
        known = MANDATORY_CLAUSES[self.kind]
        unknown = sorted(self.clauses - known.keys())
        if unknown and known:
            raise RegistrationError("clauses", f"unknown clause(s) {', '.join(unknown)}")
        missing = [name for name in known if name not in self.clauses]
        if missing:
            raise RegistrationError(
                "clauses", f"the {LABELS[self.kind]} lacks mandatory clause(s): {', '.join(missing)}"
            )
        if self.breach_notice_hours is not None and not 1 <= self.breach_notice_hours <= 24 * 365:
            raise RegistrationError("breach_notice_hours", "give a window of 1 hour to 1 year")
        if self.file_sha256 is not None and not _SHA256.fullmatch(self.file_sha256):
            raise RegistrationError("file_sha256", "must be 64 lower-case hex digits")
        for where, words in (("purposes", self.purposes), ("data_categories", self.data_categories)):
            if any(not _WORD.fullmatch(word) for word in words):
                raise RegistrationError(where, "use short lower-case words such as lab-results")
        if self.kind is AgreementKind.dsa and not (self.purposes and self.data_categories):
            raise RegistrationError(
                "purposes", "a data-sharing agreement names its purposes and data categories"
            )
        object.__setattr__(
            self, "security_clauses", tuple(check_name(c, "security_clauses") for c in self.security_clauses)
        )
        if self.terminated_on is not None and not self.termination_attestation:
            raise RegistrationError("terminated_on", _NO_ATTESTATION)

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    def active_on(self, day: date) -> bool:
        ended = self.terminated_on is not None and self.terminated_on <= day
        return self.valid_from <= day <= self.valid_until and not ended

    def terminated(self, on: date, attestation: str | None) -> Agreement:
        """The agreement ended on ``on``: refused without the return-or-destroy attestation (A.11)."""
        if self.terminated_on is not None:
            ended = self.terminated_on.isoformat()
            raise RegistrationError("terminated_on", f"the {self.label} was terminated {ended}")
        if not attestation:
            raise RegistrationError("terminated_on", _NO_ATTESTATION)
        return replace(self, terminated_on=on, termination_attestation=attestation)

    def notice_too_slow(self, max_hours: int) -> bool:
        """A.8: a breach-notification window longer than our maximum is flagged."""
        return self.breach_notice_hours is not None and self.breach_notice_hours > max_hours


def active(agreements: list[Agreement], kind: AgreementKind, day: date) -> Agreement | None:
    """The active agreement of ``kind`` that runs longest, or None."""
    current = [a for a in agreements if a.kind is kind and a.active_on(day)]
    return max(current, key=lambda a: a.valid_until) if current else None


def newest(agreements: list[Agreement], kind: AgreementKind) -> Agreement | None:
    of_kind = [a for a in agreements if a.kind is kind]
    return max(of_kind, key=lambda a: (a.valid_until, a.recorded_at)) if of_kind else None
