"""Vital signs, laboratory Observations and the DiagnosticReports that group them, for one chart."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from phigate.demo.chart import Chart, VisitRecord
from phigate.demo.elements import (
    LOINC,
    OBSERVATION_CATEGORY,
    concept,
    date_time,
    instant,
    meta,
    quantity,
    reference,
)
from phigate.demo.vocabulary import (
    BLOOD_PRESSURE,
    BODY_HEIGHT,
    BODY_TEMPERATURE,
    BODY_WEIGHT,
    CHOLESTEROL,
    DIASTOLIC,
    GLUCOSE,
    HBA1C,
    HEART_RATE,
    HEMOGLOBIN,
    LDL,
    PANELS,
    SYSTOLIC,
    Lab,
    Panel,
    Vital,
)

INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
DIABETES, HYPERLIPIDEMIA, ANEMIA = "44054006", "55822004", "271737000"
# Values outside the reference range for patients who have the matching disorder.
_ABNORMAL = {
    GLUCOSE.code: (DIABETES, 118.0, 240.0),
    HBA1C.code: (DIABETES, 6.6, 9.8),
    CHOLESTEROL.code: (HYPERLIPIDEMIA, 205.0, 290.0),
    LDL.code: (HYPERLIPIDEMIA, 131.0, 195.0),
    HEMOGLOBIN.code: (ANEMIA, 8.6, 11.4),
}
_PANEL_BY_CODE = {panel.code: panel for panel in PANELS}


def write_observations(chart: Chart) -> None:
    for record in chart.visits:
        _write_vitals(chart, record)
        for panel in _panels_for(chart, record):
            _write_panel(chart, record, panel)


def _panels_for(chart: Chart, record: VisitRecord) -> list[Panel]:
    rng = chart.context.rng
    kind = record.visit.type_code
    codes: list[str] = []
    if kind == "185349003":
        codes = ["51990-0", "58410-2"]
        if chart.has(HYPERLIPIDEMIA) or rng.random() < 0.3:
            codes.append("57698-3")
    elif kind == "390906007":
        codes = ["4548-4"] if chart.has(DIABETES) else (["51990-0"] if rng.random() < 0.5 else [])
    elif record.visit.class_code in ("EMER", "IMP"):
        codes = ["58410-2", "51990-0"]
    elif rng.random() < 0.4:
        codes = ["58410-2"]
    return [_PANEL_BY_CODE[code] for code in codes]


def _write_vitals(chart: Chart, record: VisitRecord) -> None:
    vitals = [HEART_RATE, BODY_WEIGHT]
    if record.visit.type_code == "185349003":
        vitals.append(BODY_HEIGHT)
    if record.visit.type_code != "185349003" and record.visit.type_code != "390906007":
        vitals.append(BODY_TEMPERATURE)
    for vital in vitals:
        resource = _vital_base(chart, record, vital.code, vital.display)
        resource["valueQuantity"] = quantity(_draw(chart, vital.low, vital.high, vital.decimals), vital.unit)
        chart.add(resource)
    pressure = _vital_base(chart, record, BLOOD_PRESSURE.code, BLOOD_PRESSURE.display)
    pressure["component"] = [_component(chart, SYSTOLIC), _component(chart, DIASTOLIC)]
    chart.add(pressure)


def _vital_base(chart: Chart, record: VisitRecord, code: str, display: str) -> dict[str, Any]:
    taken = record.start + timedelta(minutes=10)
    return {
        "resourceType": "Observation",
        "id": chart.next_id("obs", 3),
        "meta": meta(taken + timedelta(minutes=5)),
        "status": "final",
        "category": [concept(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")],
        "code": concept(LOINC, code, display),
        "subject": reference(chart.context.patient),
        "encounter": reference(f"Encounter/{record.encounter_id}"),
        "effectiveDateTime": date_time(taken),
        "issued": instant(taken + timedelta(minutes=5)),
        "performer": [reference(record.practitioner)],
    }


def _component(chart: Chart, vital: Vital) -> dict[str, Any]:
    return {
        "code": concept(LOINC, vital.code, vital.display),
        "valueQuantity": quantity(_draw(chart, vital.low, vital.high, vital.decimals), vital.unit),
    }


def _write_panel(chart: Chart, record: VisitRecord, panel: Panel) -> None:
    collected = record.start + timedelta(minutes=30)
    issued = collected + timedelta(hours=chart.context.rng.randint(2, 20))
    results = []
    for lab in panel.labs:
        observation = chart.add(_lab_observation(chart, record, lab, collected, issued))
        results.append(reference(f"Observation/{observation['id']}"))
    record.panels.append(panel)
    chart.add(
        {
            "resourceType": "DiagnosticReport",
            "id": chart.next_id("dr"),
            "meta": meta(issued),
            "status": "final",
            "category": [concept(DIAGNOSTIC_SERVICE, "LAB", "Laboratory")],
            "code": concept(LOINC, panel.code, panel.display),
            "subject": reference(chart.context.patient),
            "encounter": reference(f"Encounter/{record.encounter_id}"),
            "effectiveDateTime": date_time(collected),
            "issued": instant(issued),
            "performer": [reference(chart.context.laboratory)],
            "resultsInterpreter": [reference(record.practitioner)],
            "result": results,
        }
    )


def _lab_observation(
    chart: Chart, record: VisitRecord, lab: Lab, collected: datetime, issued: datetime
) -> dict[str, Any]:
    low, high = _range(chart, lab)
    value = _lab_value(chart, lab, low, high)
    return {
        "resourceType": "Observation",
        "id": chart.next_id("obs", 3),
        "meta": meta(issued),
        "status": "final",
        "category": [concept(OBSERVATION_CATEGORY, "laboratory", "Laboratory")],
        "code": concept(LOINC, lab.code, lab.display),
        "subject": reference(chart.context.patient),
        "encounter": reference(f"Encounter/{record.encounter_id}"),
        "effectiveDateTime": date_time(collected),
        "issued": instant(issued),
        "performer": [reference(chart.context.laboratory)],
        "valueQuantity": quantity(value, lab.unit),
        "interpretation": [_interpretation(value, low, high)],
        "referenceRange": [{"low": quantity(low, lab.unit), "high": quantity(high, lab.unit)}],
    }


def _range(chart: Chart, lab: Lab) -> tuple[float, float]:
    if lab.code == HEMOGLOBIN.code:
        return (12.0, 15.5) if chart.context.gender == "female" else (13.5, 17.5)
    return lab.low, lab.high


def _lab_value(chart: Chart, lab: Lab, low: float, high: float) -> float:
    abnormal = _ABNORMAL.get(lab.code)
    if abnormal is not None and chart.has(abnormal[0]):
        return _draw(chart, abnormal[1], abnormal[2], lab.decimals)
    spread = (high - low) * 0.08
    return _draw(chart, low - spread, high + spread, lab.decimals)


def _interpretation(value: float, low: float, high: float) -> dict[str, Any]:
    if value < low:
        return concept(INTERPRETATION, "L", "Low")
    if value > high:
        return concept(INTERPRETATION, "H", "High")
    return concept(INTERPRETATION, "N", "Normal")


def _draw(chart: Chart, low: float, high: float, decimals: int) -> float:
    value = round(chart.context.rng.uniform(low, high), decimals)
    return int(value) if decimals == 0 else value
