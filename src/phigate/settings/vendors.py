"""``vendors:``: rules that turn a vendor's evidence, agreements and incidents into its standing (issue 9).

Every rule is a value here so that a deployment states its own risk appetite;
:mod:`phigate.vendors.posture` applies them. Defaults follow
``compliance-controls.md`` section A.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from phigate.settings.traffic import LimitSettings, parse_rate

Days = Annotated[int, Field(ge=0, le=3650)]


class VendorSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # A vendor with no evidence, agreement or assessment on record: "deny" (production posture) refuses
    # its clients until it is assessed; "allow" lets clients registered before risk management began
    # receive data without any posture.
    unmanaged_vendors: Literal["allow", "deny"] = "deny"
    # No active HIPAA BAA: no PHI (A.1). "deidentified_only" refuses identifiable data (conditional
    # standing); "suspend" refuses everything.
    phi_without_baa: Literal["deidentified_only", "suspend"] = "deidentified_only"
    # A vendor processing EU data needs a complete GDPR Art. 28 DPA (A.3); same two choices.
    eu_without_dpa: Literal["deidentified_only", "suspend"] = "deidentified_only"
    require_certification: bool = True  # a managed vendor holds a SOC 2 Type II report or ISO 27001
    soc2_valid_months: Annotated[int, Field(ge=1, le=36)] = 12  # after the report period ends (A.5)
    iso_grace_days: Days = 30  # an expired ISO 27001 certificate keeps access this long, then suspends
    pentest_valid_days: Annotated[int, Field(ge=30, le=3650)] = 365
    stale_pentest: Literal["read_only", "ignore"] = "read_only"
    incident_effect: Literal["suspend", "read_only"] = "suspend"  # while an incident is open (H.43)
    critical_risk: Literal["read_only", "suspend", "ignore"] = "read_only"  # assessment rated critical
    max_breach_notice_hours: Annotated[int, Field(ge=1, le=720)] = 48  # A.8: a longer SLA is flagged
    cache_seconds: Annotated[float, Field(gt=0, le=5)] = 2.0  # how stale a node's view may be (<= 5 s)
    # Access reviews read use from the audit trail this far back and flag the scopes unused in it.
    review_unused_days: Annotated[int, Field(ge=1, le=3650)] = 90
    review_due_days: Annotated[int, Field(ge=1, le=365)] = 14  # a campaign is overdue after this
    reminder_days: tuple[Annotated[int, Field(ge=0, le=365)], ...] = (60, 30, 7, 1)  # before expiry (A.6)
    # A sub-processor change (A.4) waits for the controller; this long it may object (GDPR Art. 28(2)).
    subprocessor_objection_days: Annotated[int, Field(ge=1, le=365)] = 30
    # The signed incident webhook: reports per source address (before the signature is checked) and per
    # vendor (after), shared by every node through the traffic guard's store; null: no such limit.
    webhook_per_ip: LimitSettings | None = LimitSettings(rate_limit=parse_rate("30 requests/minute"))
    webhook_per_vendor: LimitSettings | None = LimitSettings(rate_limit=parse_rate("10 requests/minute"))
    # Each node checks this often for reminders due and overdue reviews (0: never; use the CLI from cron).
    notice_check_seconds: Annotated[float, Field(ge=0, le=86400)] = 900.0
    # An overdue security review (A.7) or access review alerts again after this many hours.
    overdue_alert_hours: Annotated[int, Field(ge=1, le=8760)] = 24

    @field_validator("reminder_days")
    @classmethod
    def _distinct_lead_times(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(days)) != len(days):
            raise ValueError("list each lead time once, such as [60, 30, 7, 1]")
        return tuple(sorted(days, reverse=True))
