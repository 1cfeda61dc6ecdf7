"""``vendors:``: rules that turn a vendor's evidence, agreements and incidents into its standing (issue 9).

Every rule is a value here so that a deployment states its own risk appetite;
:mod:`phigate.vendors.posture` applies them. Defaults follow
``compliance-controls.md`` section A.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Days = Annotated[int, Field(ge=0, le=3650)]


class VendorSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # A vendor with no evidence, agreement or assessment on record: "allow" keeps clients that were
    # registered before risk management began working; "deny" refuses them until they are assessed.
    unmanaged_vendors: Literal["allow", "deny"] = "allow"
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
    review_unused_days: Annotated[int, Field(ge=1, le=3650)] = (
        90  # access reviews flag scopes unused this long
    )
    review_due_days: Annotated[int, Field(ge=1, le=365)] = 14  # a campaign is overdue after this
    reminder_days: tuple[Annotated[int, Field(ge=0, le=365)], ...] = (60, 30, 7, 1)  # before expiry (A.6)
