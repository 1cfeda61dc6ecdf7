"""A chart's insurance Coverage and the Claims billed for its visits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from phigate.demo.chart import Chart, VisitRecord
from phigate.demo.elements import (
    ACT_CODE,
    CPT,
    concept,
    date_time,
    day,
    identifier,
    meta,
    money,
    reference,
)
from phigate.demo.vocabulary import PANEL_PRICE, VACCINE_ADMIN, VACCINE_PRICE

CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
PROCESS_PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"


def member_system(payor_id: str) -> str:
    return f"https://{payor_id.removeprefix('org-payor-')}.example/member-id"


def write_coverage(chart: Chart, payor: tuple[str, str, str, str], member_id: str) -> str:
    """The patient's own policy with ``payor``; returns the Coverage id."""
    ctx = chart.context
    payor_id, payor_name, prefix, plan = payor
    coverage_id = f"cov-{ctx.key}"
    start = ctx.reference.date().replace(month=1, day=1) - timedelta(days=365 * ctx.rng.randint(1, 6))
    chart.add(
        {
            "resourceType": "Coverage",
            "id": coverage_id,
            "meta": meta(ctx.reference - timedelta(days=ctx.rng.randint(30, 300))),
            "identifier": [identifier(member_system(payor_id), member_id, "MB")],
            "status": "active",
            "type": concept(ACT_CODE, "EHCPOL", "extended healthcare"),
            "subscriber": reference(ctx.patient),
            "subscriberId": member_id,
            "beneficiary": reference(ctx.patient),
            "relationship": concept(SUBSCRIBER_RELATIONSHIP, "self", "Self"),
            "period": {"start": day(start)},
            "payor": [reference(f"Organization/{payor_id}", payor_name)],
            "class": [
                {
                    "type": concept(COVERAGE_CLASS, "group", "Group"),
                    "value": f"{prefix}-GRP-{ctx.rng.randint(100, 999)}",
                },
                {"type": concept(COVERAGE_CLASS, "plan", "Plan"), "value": plan, "name": plan},
            ],
        }
    )
    return coverage_id


def write_claims(chart: Chart, coverage_id: str, payor_id: str) -> None:
    for record in chart.visits:
        chart.add(_claim(chart, record, coverage_id, payor_id))


def _claim(chart: Chart, record: VisitRecord, coverage_id: str, payor_id: str) -> dict[str, Any]:
    ctx = chart.context
    items = _items(record)
    created = record.end + timedelta(days=ctx.rng.randint(1, 5))
    institutional = record.visit.class_code in ("EMER", "IMP")
    claim: dict[str, Any] = {
        "resourceType": "Claim",
        "id": chart.next_id("claim"),
        "meta": meta(created),
        "status": "active",
        "type": concept(CLAIM_TYPE, "institutional" if institutional else "professional"),
        "use": "claim",
        "patient": reference(ctx.patient),
        "billablePeriod": {"start": date_time(record.start), "end": date_time(record.end)},
        "created": date_time(created),
        "insurer": reference(f"Organization/{payor_id}"),
        "provider": reference(ctx.hospital if institutional else record.practitioner),
        "priority": concept(PROCESS_PRIORITY, "normal"),
        "insurance": [{"sequence": 1, "focal": True, "coverage": reference(f"Coverage/{coverage_id}")}],
        "item": items,
        "total": money(sum(item["net"]["value"] for item in items)),
    }
    if record.diagnoses:
        claim["diagnosis"] = [
            {"sequence": n, "diagnosisReference": reference(f"Condition/{condition_id}")}
            for n, condition_id in enumerate(record.diagnoses, start=1)
        ]
    return claim


def _items(record: VisitRecord) -> list[dict[str, Any]]:
    charges = [(record.visit.cpt, record.visit.cpt_display, record.visit.price)]
    charges += [(panel.cpt, panel.display, PANEL_PRICE) for panel in record.panels]
    charges += [(VACCINE_ADMIN.code, VACCINE_ADMIN.display, VACCINE_PRICE)] * record.vaccines
    return [
        {
            "sequence": n,
            "productOrService": concept(CPT, code, display),
            "servicedDate": record.start.date().isoformat(),
            "unitPrice": money(price),
            "quantity": {"value": 1},
            "net": money(price),
            "encounter": [reference(f"Encounter/{record.encounter_id}")],
        }
        for n, (code, display, price) in enumerate(charges, start=1)
    ]
