"""The demo's vendors in three standings (used by ``phigate demo``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from phigate.adapters.sql.vendor_evidence import new_id
from phigate.cli.vendor_registry import risk_registry
from phigate.settings import ResolvedSettings
from phigate.types import VendorId
from phigate.vendors.agreements import MANDATORY_CLAUSES, Agreement, AgreementKind
from phigate.vendors.assessment import assess
from phigate.vendors.evidence import Evidence, EvidenceKind, add_months

DEMO_GOOD_ANSWERS = {
    "certification": "both", "hipaa_compliance": "yes", "gdpr_compliance": "not_applicable", "tls": "1.3",
    "encryption_at_rest": "aes-256", "mfa": "yes", "access_control": "yes", "logging": "yes",
    "incident_response": "yes", "breach_notice": "yes", "subprocessors": "yes", "data_location": "contracted",
}  # fmt: skip


async def seed_demo_posture(resolved: ResolvedSettings) -> None:
    """Give the demo vendors their records once: Acme approved (SOC 2, BAA, low risk), MedBill with a SOC 2
    report that expired two months ago, Cohort Research with a current SOC 2 report but no BAA (answered
    de-identified), and the demo app's publisher approved (unmanaged vendors are refused by default)."""
    now = datetime.now(UTC)
    today = now.date()
    async with risk_registry(resolved) as (_, risk):
        for vendor_id, period_end, with_baa in (
            ("acme-diagnostics", add_months(today, -3), True),
            ("medbill", add_months(today, -14), True),
            ("cohort-research", add_months(today, -2), False),
            ("demo-apps", add_months(today, -3), True),
        ):
            vendor = VendorId(vendor_id)
            dossier = await risk.dossier(vendor)
            if not dossier.known or dossier.managed:
                continue
            await risk.documents.add_evidence(_demo_soc2(vendor, period_end, now), None, "demo")
            if with_baa:
                await risk.documents.add_agreement(_demo_baa(vendor, today, now), None, "demo")
            await risk.add_assessment(assess(new_id("as"), vendor, DEMO_GOOD_ANSWERS, "demo", now), "demo")


def _demo_soc2(vendor: VendorId, period_end: date, now: datetime) -> Evidence:
    return Evidence(
        id=new_id("ev"), vendor_id=vendor, kind=EvidenceKind.soc2_type2, recorded_at=now,
        issuer="Demo Assurance LLP", period_start=add_months(period_end, -12) + timedelta(days=1),
        period_end=period_end,
    )  # fmt: skip


def _demo_baa(vendor: VendorId, today: date, now: datetime) -> Agreement:
    clauses = frozenset(MANDATORY_CLAUSES[AgreementKind.baa])
    return Agreement(
        id=new_id("ag"), vendor_id=vendor, kind=AgreementKind.baa, valid_from=add_months(today, -12),
        valid_until=add_months(today, 24), recorded_at=now, clauses=clauses, breach_notice_hours=24,
    )  # fmt: skip
