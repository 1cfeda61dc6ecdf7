"""The posture engine: from a vendor's dossier, the rules and the time, its standing and the reasons.

Pure: no I/O, no clock (``now`` is passed in). The result is explainable
(compliance-controls A.9): one :class:`Factor` per posture item, each passed or
failed with its effect, so the same dossier always gives the same decision and
breakdown, and changing one item changes one line.

Standing, from the strongest effect of any factor:

- ``terminated``: the vendor was offboarded (with its return-or-destroy
  attestation); final;
- ``suspended``: an administrator suspended the vendor, or an incident is open
  (``incident_effect: suspend``), or a rule set to ``suspend`` failed;
- ``expired``: evidence or an agreement it must hold has lapsed (SOC 2 past its
  validity, ISO 27001 past expiry plus the grace period, a data-sharing
  agreement ended) or it holds no certification at all;
- ``pending_review``: a change to its sub-processors waits for the controller's
  approval; access is held where it was when the change was proposed (see
  :mod:`phigate.vendors.subprocessors`);
- ``conditional``: access with restrictions: ``read_only`` (writes refused) or
  ``deidentified_only`` (no PHI: no active BAA, or EU data without a DPA; reads
  are answered de-identified with the HIPAA safe-harbor preset, writes refused);
- ``approved``: nothing failed (warnings, such as a slow breach-notice SLA or an
  ISO certificate inside its grace period, are listed but restrict nothing).

Terminated, suspended and expired vendors get no tokens and every request is
refused with the reasons. Restrictions add up: a vendor pending review without a
BAA is held *and* de-identified.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from phigate.settings.vendors import VendorSettings
from phigate.vendors.agreements import AgreementKind, active, newest
from phigate.vendors.assessment import RiskBand
from phigate.vendors.dossier import Dossier
from phigate.vendors.evidence import Evidence, EvidenceKind, latest, valid_until
from phigate.vendors.subprocessors import pending


class Standing(StrEnum):
    approved = "approved"
    conditional = "conditional"
    pending_review = "pending_review"
    suspended = "suspended"
    expired = "expired"
    terminated = "terminated"


class Effect(StrEnum):
    """What a failed factor does, weakest first."""

    none = "none"
    warn = "warn"
    read_only = "read_only"
    deidentified_only = "deidentified_only"
    pending_review = "pending_review"  # access held where it was when a sub-processor change was proposed
    expire = "expire"
    suspend = "suspend"
    terminate = "terminate"


_STRENGTH = list(Effect)
RESTRICTIONS = frozenset({Effect.read_only, Effect.deidentified_only, Effect.pending_review})
_REFUSING = frozenset({Standing.suspended, Standing.expired, Standing.terminated})


@dataclass(frozen=True)
class Factor:
    item: str  # what was checked: "baa", "soc2_type2", "incident:<id>", ...
    passed: bool
    effect: Effect
    reason: str  # safe to show to the vendor: dates and document kinds only


@dataclass(frozen=True)
class Posture:
    standing: Standing
    factors: tuple[Factor, ...]

    @property
    def restrictions(self) -> frozenset[Effect]:
        return frozenset(f.effect for f in self.factors if not f.passed and f.effect in RESTRICTIONS)

    @property
    def reasons(self) -> tuple[str, ...]:
        """The reasons of every failed factor that has an effect beyond a warning."""
        return tuple(
            f.reason for f in self.factors if not f.passed and f.effect not in (Effect.none, Effect.warn)
        )

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(f.reason for f in self.factors if not f.passed and f.effect is Effect.warn)

    @property
    def refuses_all(self) -> bool:
        return self.standing in _REFUSING

    def as_dict(self) -> dict[str, object]:
        return {
            "standing": self.standing.value,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "restrictions": sorted(r.value for r in self.restrictions),
            "factors": [
                {"item": f.item, "passed": f.passed, "effect": f.effect.value, "reason": f.reason}
                for f in self.factors
            ],
        }


def evaluate(dossier: Dossier, rules: VendorSettings, now: datetime) -> Posture:
    """The vendor's standing at ``now`` under ``rules``."""
    if not dossier.known:
        return _posture(
            [Factor("registry", False, Effect.suspend, "The vendor is not registered; access refused")]
        )
    factors: list[Factor | None] = [
        *_offboarding(dossier), *_administrative(dossier), *_incidents(dossier, rules),
        *_subprocessors(dossier, now.date()),
    ]  # fmt: skip
    if dossier.managed:
        today = now.date()
        factors += [
            *_certifications(dossier, rules, today),
            _pentest(dossier, rules, today),
            _baa(dossier, rules, today),
            *_dpa(dossier, rules, today),
            *_dsa(dossier, today),
            *_breach_notice(dossier, rules),
            *_assessment(dossier, rules, today),
        ]
    elif rules.unmanaged_vendors == "deny":
        reason = "The vendor has not been assessed yet; access refused until it is"
        factors.append(Factor("assessment", False, Effect.suspend, reason))
    else:
        factors.append(
            Factor("assessment", True, Effect.none, "No risk record yet (unmanaged vendors allowed)")
        )
    return _posture([f for f in factors if f is not None])


def _posture(factors: list[Factor]) -> Posture:
    failed = [f.effect for f in factors if not f.passed]
    strongest = max(failed, key=_STRENGTH.index, default=Effect.none)
    standing = {
        Effect.terminate: Standing.terminated,
        Effect.suspend: Standing.suspended,
        Effect.expire: Standing.expired,
        Effect.pending_review: Standing.pending_review,
        Effect.read_only: Standing.conditional,
        Effect.deidentified_only: Standing.conditional,
    }.get(strongest, Standing.approved)
    return Posture(standing, tuple(factors))


def _offboarding(dossier: Dossier) -> list[Factor]:
    if dossier.offboarding is None:
        return []
    return [Factor("termination", False, Effect.terminate, dossier.offboarding.posture_reason)]


def _subprocessors(dossier: Dossier, today: date) -> list[Factor]:
    return [
        Factor(f"subprocessor:{item.id}", False, Effect.pending_review, item.reason(today))
        for item in pending(dossier.subprocessors)
    ]


def _administrative(dossier: Dossier) -> list[Factor]:
    if dossier.suspension is None:
        return []
    day = dossier.suspension.at.date().isoformat()
    return [Factor("suspension", False, Effect.suspend, f"Access suspended by the data holder on {day}")]


def _incidents(dossier: Dossier, rules: VendorSettings) -> list[Factor]:
    effect = Effect.suspend if rules.incident_effect == "suspend" else Effect.read_only
    word = "access suspended" if effect is Effect.suspend else "access is read-only"
    return [
        Factor(f"incident:{incident.id}", False, effect,
               f"Security incident of {incident.aware_at.date().isoformat()} is open; {word}")
        for incident in dossier.incidents if incident.restricts
    ]  # fmt: skip


def _certifications(dossier: Dossier, rules: VendorSettings, today: date) -> list[Factor]:
    items = list(dossier.evidence)
    held = [e for e in (latest(items, EvidenceKind.soc2_type2), latest(items, EvidenceKind.iso27001)) if e]
    if not held:
        if not rules.require_certification:
            return []
        reason = "No SOC 2 Type II report or ISO 27001 certificate on file; access suspended"
        return [Factor("certification", False, Effect.expire, reason)]
    return [_certificate(item, rules, today) for item in held]


def _certificate(item: Evidence, rules: VendorSettings, today: date) -> Factor:
    until = valid_until(
        item, soc2_valid_months=rules.soc2_valid_months, pentest_valid_days=rules.pentest_valid_days
    )
    kind = item.kind.value
    if today <= until:
        return Factor(kind, True, Effect.none, f"{item.label} valid until {until.isoformat()}")
    if item.kind is EvidenceKind.soc2_type2:
        assert item.period_end is not None
        bridge = f", bridge letter ended {item.bridge_until.isoformat()}" if item.bridge_until else ""
        reason = f"SOC 2 report period ended {item.period_end.isoformat()}{bridge}; access suspended"
        return Factor(kind, False, Effect.expire, reason)
    grace_end = until + timedelta(days=rules.iso_grace_days)
    if today <= grace_end:
        reason = f"{item.label} expired {until.isoformat()}; grace period ends {grace_end.isoformat()}"
        return Factor(kind, False, Effect.warn, reason)
    reason = f"{item.label} expired {until.isoformat()} and its grace period ended; access suspended"
    return Factor(kind, False, Effect.expire, reason)


def _pentest(dossier: Dossier, rules: VendorSettings, today: date) -> Factor | None:
    item = latest(list(dossier.evidence), EvidenceKind.pentest)
    if item is None or rules.stale_pentest == "ignore":
        return None
    until = valid_until(
        item, soc2_valid_months=rules.soc2_valid_months, pentest_valid_days=rules.pentest_valid_days
    )
    assert item.performed_on is not None
    if today <= until:
        return Factor(
            "pentest", True, Effect.none, f"Penetration test of {item.performed_on.isoformat()} is current"
        )
    reason = f"Penetration test of {item.performed_on.isoformat()} is out of date; access is read-only"
    return Factor("pentest", False, Effect.read_only, reason)


def _baa(dossier: Dossier, rules: VendorSettings, today: date) -> Factor:
    current = active(list(dossier.agreements), AgreementKind.baa, today)
    if current is not None:
        return Factor("baa", True, Effect.none, f"HIPAA BAA in force until {current.valid_until.isoformat()}")
    last = newest(list(dossier.agreements), AgreementKind.baa)
    state = "No HIPAA business associate agreement on file"
    if last is not None:
        state = f"HIPAA business associate agreement not in force (ends {last.valid_until.isoformat()})"
        if last.terminated_on is not None:
            state = f"HIPAA business associate agreement terminated {last.terminated_on.isoformat()}"
    if rules.phi_without_baa == "suspend":
        return Factor("baa", False, Effect.suspend, f"{state}; access suspended")
    return Factor(
        "baa", False, Effect.deidentified_only, f"{state}; no PHI may be disclosed (de-identified data only)"
    )


def _dpa(dossier: Dossier, rules: VendorSettings, today: date) -> list[Factor]:
    if "EU" not in dossier.jurisdictions:
        return []
    if active(list(dossier.agreements), AgreementKind.dpa, today) is not None:
        return [Factor("dpa", True, Effect.none, "GDPR Art. 28 DPA in force")]
    effect = Effect.suspend if rules.eu_without_dpa == "suspend" else Effect.deidentified_only
    return [
        Factor(
            "dpa", False, effect, "No GDPR Art. 28 data processing agreement in force; no EU personal data"
        )
    ]


def _dsa(dossier: Dossier, today: date) -> list[Factor]:
    last = newest(list(dossier.agreements), AgreementKind.dsa)
    if last is None:
        return []
    if active(list(dossier.agreements), AgreementKind.dsa, today) is not None:
        return [
            Factor(
                "dsa",
                True,
                Effect.none,
                f"Data-sharing agreement in force until {last.valid_until.isoformat()}",
            )
        ]
    reason = f"Data-sharing agreement ended {last.valid_until.isoformat()}; access suspended"
    return [Factor("dsa", False, Effect.expire, reason)]


def _breach_notice(dossier: Dossier, rules: VendorSettings) -> list[Factor]:
    slow = [a for a in dossier.agreements if a.notice_too_slow(rules.max_breach_notice_hours)]
    return [
        Factor(f"breach_notice:{a.kind.value}", False, Effect.warn,
               f"{a.label} allows {a.breach_notice_hours} h to notify a breach (policy: at most "
               f"{rules.max_breach_notice_hours} h)")
        for a in slow
    ]  # fmt: skip


def _assessment(dossier: Dossier, rules: VendorSettings, today: date) -> list[Factor]:
    assessment = dossier.assessment
    if assessment is None:
        return [Factor("assessment", False, Effect.warn, "No security assessment on file")]
    factors = []
    if today > assessment.review_due:
        overdue = f"Security review overdue since {assessment.review_due.isoformat()}"
        factors.append(Factor("review_due", False, Effect.warn, overdue))
    band = assessment.rating.band
    if band is RiskBand.critical and rules.critical_risk != "ignore":
        effect = Effect.suspend if rules.critical_risk == "suspend" else Effect.read_only
        word = "access suspended" if effect is Effect.suspend else "access is read-only"
        factors.append(Factor("risk", False, effect, f"Security assessment rated critical risk; {word}"))
    else:
        factors.append(Factor("risk", True, Effect.none, f"Security assessment rated {band.value} risk"))
    return factors
