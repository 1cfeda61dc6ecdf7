"""Builders for the FHIR R4 data types the synthetic generator writes (Coding, Quantity, Money, ...)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
CPT = "http://www.ama-assn.org/go/cpt"
UCUM = "http://unitsofmeasure.org"
NPI = "http://hl7.org/fhir/sid/us-npi"
SSN = "http://hl7.org/fhir/sid/us-ssn"
MRN_SYSTEM = "https://demo-hospital.example/mrn"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    result = {"system": system, "code": code}
    if display is not None:
        result["display"] = display
    return result


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"coding": [coding(system, code, display)]}
    if text is not None or display is not None:
        result["text"] = text if text is not None else display
    return result


def reference(target: str, display: str | None = None) -> dict[str, Any]:
    result = {"reference": target}
    if display is not None:
        result["display"] = display
    return result


def quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def money(value: float) -> dict[str, Any]:
    return {"value": round(value, 2), "currency": "USD"}


def identifier(
    system: str, value: str, type_code: str | None = None, use: str | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if use is not None:
        result["use"] = use
    if type_code is not None:
        result["type"] = concept(V2_0203, type_code)
    result["system"] = system
    result["value"] = value
    return result


def instant(moment: datetime) -> str:
    """A FHIR ``instant`` in UTC with second precision, e.g. ``2025-03-04T14:30:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def date_time(moment: datetime) -> str:
    """A FHIR ``dateTime`` keeping the local offset, e.g. ``2025-03-04T09:30:00-05:00``."""
    return moment.isoformat(timespec="seconds")


def meta(last_updated: datetime) -> dict[str, Any]:
    return {"versionId": "1", "lastUpdated": instant(last_updated)}


def day(value: date) -> str:
    return value.isoformat()
