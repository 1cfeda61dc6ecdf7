"""Encounters, Conditions, MedicationRequests and Immunizations of one synthetic chart."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from phigate.demo.chart import Chart, VisitRecord
from phigate.demo.elements import (
    ACT_CODE,
    CVX,
    RXNORM,
    SNOMED,
    coding,
    concept,
    date_time,
    meta,
    reference,
)
from phigate.demo.vocabulary import (
    DISORDERS,
    VACCINES_ADULT,
    VACCINES_CHILD,
    VISITS,
    Concept,
    Disorder,
)

CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
VISIT_WEIGHTS = (35, 30, 20, 10, 5)
_DURATIONS = {"AMB": (20, 60), "EMER": (120, 480), "IMP": (2 * 1440, 6 * 1440)}


def write_encounters(chart: Chart, count: int) -> None:
    """``count`` encounters spread over the three years before the reference date, oldest first."""
    ctx = chart.context
    days = sorted(ctx.rng.sample(range(3, 3 * 365), count), reverse=True)
    for days_ago in days:
        visit = ctx.rng.choices(VISITS, weights=VISIT_WEIGHTS)[0]
        local_day = (ctx.reference - timedelta(days=days_ago)).astimezone(ctx.tz)
        hour, minute = ctx.rng.randint(8, 16), ctx.rng.choice((0, 15, 30, 45))
        start = local_day.replace(hour=hour, minute=minute, second=0)
        low, high = _DURATIONS[visit.class_code]
        end = start + timedelta(minutes=ctx.rng.randint(low, high))
        record = VisitRecord(chart.next_id("enc"), visit, start, end, ctx.rng.choice(ctx.practitioners))
        chart.visits.append(record)
        chart.add(_encounter(chart, record))


def _encounter(chart: Chart, record: VisitRecord) -> dict[str, Any]:
    visit = record.visit
    return {
        "resourceType": "Encounter",
        "id": record.encounter_id,
        "meta": meta(record.end),
        "status": "finished",
        "class": coding(ACT_CODE, visit.class_code, visit.class_display),
        "type": [concept(SNOMED, visit.type_code, visit.type_display)],
        "subject": reference(chart.context.patient),
        "participant": [
            {
                "type": [concept("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PPRF",
                                 "primary performer")],
                "individual": reference(record.practitioner),
            }
        ],
        "period": {"start": date_time(record.start), "end": date_time(record.end)},
        "serviceProvider": reference(chart.context.hospital),
    }  # fmt: skip


def write_conditions(chart: Chart) -> None:
    """Chronic problems diagnosed at some visit, and acute ones at symptom or emergency visits."""
    ctx = chart.context
    chronic = [d for d in DISORDERS if d.chronic]
    age = ctx.age_on(ctx.reference.date())
    wanted = 0 if age < 18 else ctx.rng.choices((0, 1, 2, 3), weights=(25, 35, 25, 15))[0]
    for disorder in ctx.rng.sample(chronic, wanted):
        _diagnose(chart, disorder, ctx.rng.choice(chart.visits))
    acute = [d for d in DISORDERS if not d.chronic]
    for record in chart.visits:
        if record.visit.class_code != "AMB" or record.visit.type_code == "185345009":
            _diagnose(chart, ctx.rng.choice(acute), record)


def _diagnose(chart: Chart, disorder: Disorder, record: VisitRecord) -> None:
    ctx = chart.context
    condition_id = chart.next_id("cond")
    record.diagnoses.append(condition_id)
    chart.disorders.append(disorder)
    days_before = ctx.rng.randint(30, 900) if disorder.chronic else ctx.rng.randint(1, 6)
    onset = record.start - timedelta(days=days_before)
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": condition_id,
        "meta": meta(record.end),
        "clinicalStatus": concept(CLINICAL_STATUS, "active" if disorder.chronic else "resolved"),
        "verificationStatus": concept(VERIFICATION_STATUS, "confirmed"),
        "category": [_condition_category(disorder.chronic)],
        "code": concept(SNOMED, disorder.code, disorder.display),
        "subject": reference(ctx.patient),
        "encounter": reference(f"Encounter/{record.encounter_id}"),
        "onsetDateTime": date_time(onset),
        "recordedDate": date_time(record.start),
        "recorder": reference(record.practitioner),
    }
    if not disorder.chronic:
        resource["abatementDateTime"] = date_time(record.start + timedelta(days=ctx.rng.randint(7, 21)))
    chart.add(resource)
    _prescribe(chart, disorder, record, condition_id)


def _condition_category(chronic: bool) -> dict[str, Any]:
    if chronic:
        return concept(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")
    return concept(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")


def _prescribe(chart: Chart, disorder: Disorder, record: VisitRecord, condition_id: str) -> None:
    ctx = chart.context
    for index, medication in enumerate(disorder.medications):
        if index > 0 and ctx.rng.random() < 0.4:
            continue
        chart.add(_medication_request(chart, medication, disorder.chronic, record, condition_id))


def _medication_request(
    chart: Chart, medication: Concept, chronic: bool, record: VisitRecord, condition_id: str
) -> dict[str, Any]:
    ctx = chart.context
    per_day = ctx.rng.choice((1, 1, 2))
    return {
        "resourceType": "MedicationRequest",
        "id": chart.next_id("medrx"),
        "meta": meta(record.end),
        "status": "active" if chronic else "completed",
        "intent": "order",
        "medicationCodeableConcept": concept(RXNORM, medication.code, medication.display),
        "subject": reference(ctx.patient),
        "encounter": reference(f"Encounter/{record.encounter_id}"),
        "authoredOn": date_time(record.start + timedelta(minutes=5)),
        "requester": reference(record.practitioner),
        "reasonReference": [reference(f"Condition/{condition_id}")],
        "dosageInstruction": [
            {
                "sequence": 1,
                "text": f"Take 1 by mouth {'once' if per_day == 1 else 'twice'} daily",
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "dose"}}],
            }
        ],
        "dispenseRequest": {"numberOfRepeatsAllowed": 3 if chronic else 0,
                            "expectedSupplyDuration": {"value": 30 if chronic else 10, "unit": "days",
                                                       "system": "http://unitsofmeasure.org", "code": "d"}},
    }  # fmt: skip


def write_immunizations(chart: Chart) -> None:
    """Vaccines given at some visits (flu in season, others at random), children get the childhood series."""
    ctx = chart.context
    child = ctx.age_on(ctx.reference.date()) < 18
    for record in chart.visits:
        if child or record.start.month in (9, 10, 11, 12) or ctx.rng.random() < 0.25:
            pool = VACCINES_CHILD if child else VACCINES_ADULT
            vaccine = pool[0] if child else _season_vaccine(record.start, ctx.rng.random(), pool)
            chart.add(_immunization(chart, vaccine, record))
            record.vaccines += 1


def _season_vaccine(start: datetime, draw: float, pool: tuple[Concept, ...]) -> Concept:
    if start.month in (9, 10, 11, 12) and draw < 0.7:
        return pool[0]
    return pool[1 + int(draw * 1000) % (len(pool) - 1)]


def _immunization(chart: Chart, vaccine: Concept, record: VisitRecord) -> dict[str, Any]:
    ctx = chart.context
    given = record.start + timedelta(minutes=15)
    return {
        "resourceType": "Immunization",
        "id": chart.next_id("imm"),
        "meta": meta(record.end),
        "status": "completed",
        "vaccineCode": concept(CVX, vaccine.code, vaccine.display),
        "patient": reference(ctx.patient),
        "encounter": reference(f"Encounter/{record.encounter_id}"),
        "occurrenceDateTime": date_time(given),
        "recorded": date_time(given),
        "primarySource": True,
        "lotNumber": f"{ctx.rng.choice('ABCDEFGHJK')}{ctx.rng.randint(10000, 99999)}",
        "site": concept("http://terminology.hl7.org/CodeSystem/v3-ActSite", "LA", "left arm"),
        "route": concept("http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration", "IM",
                         "Injection, intramuscular"),
        "performer": [{"actor": reference(record.practitioner)}],
    }  # fmt: skip
