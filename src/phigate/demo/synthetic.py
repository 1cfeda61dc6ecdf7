"""The deterministic synthetic data set of the demo EHR.

``generate(seed, patients, reference_date)`` returns valid FHIR R4 resources as
JSON-ready dicts. It draws from its own seeded ``random.Random`` and never reads
the clock: every date is relative to ``reference_date``, so the same arguments
give byte-identical output (:func:`dump_ndjson`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import orjson

from phigate.demo.billing import write_claims, write_coverage
from phigate.demo.chart import Chart, PatientContext
from phigate.demo.clinical import write_conditions, write_encounters, write_immunizations
from phigate.demo.directory import HOSPITAL, LABORATORY, organizations, practitioner_ids, practitioners
from phigate.demo.observations import write_observations
from phigate.demo.people import Person, patient_resource, random_person, special_people

DEFAULT_SEED = 20260101
DEFAULT_PATIENTS = 120
REFERENCE_DATE = date(2026, 1, 1)
RESOURCE_TYPES = (
    "Organization", "Practitioner", "Patient", "Encounter", "Condition", "MedicationRequest",
    "Observation", "DiagnosticReport", "Immunization", "Coverage", "Claim",
)  # fmt: skip
_PEDIATRICIAN = "Practitioner/prac-05"
_PRIMARY_CARE = ("Practitioner/prac-01", "Practitioner/prac-02")


def generate(
    seed: int = DEFAULT_SEED, patients: int = DEFAULT_PATIENTS, reference_date: date = REFERENCE_DATE
) -> list[dict[str, Any]]:
    """``patients`` patients (the special ones first) with their charts, after the shared directory."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data must be reproducible, not secret
    reference = datetime.combine(reference_date, time(0, 0), tzinfo=UTC)
    directory_updated = reference - timedelta(days=400)
    resources = organizations(directory_updated) + practitioners(directory_updated)
    people = special_people(reference_date)[:patients]
    people += [random_person(rng, n, reference_date) for n in range(1, patients - len(people) + 1)]
    for person in people:
        resources.extend(_patient_record(rng, person, reference))
    return resources


def dump_ndjson(resources: Iterable[dict[str, Any]]) -> bytes:
    """One resource per line, keys sorted, so equal data set means equal bytes."""
    return b"".join(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS) + b"\n" for resource in resources)


def _patient_record(rng: random.Random, person: Person, reference: datetime) -> list[dict[str, Any]]:
    child = (reference.date() - person.birth).days < 18 * 365
    practitioner = _PEDIATRICIAN if child else rng.choice(_PRIMARY_CARE)
    registered = reference - timedelta(days=rng.randint(1, 30))
    resources = [patient_resource(person, practitioner, HOSPITAL, registered)]
    if not person.has_chart:
        return resources
    chart = Chart(_context(rng, person, reference))
    write_encounters(chart, rng.randint(2, 5))
    write_conditions(chart)
    write_observations(chart)
    write_immunizations(chart)
    if person.payor is not None and person.member_id is not None:
        coverage_id = write_coverage(chart, person.payor, person.member_id)
        write_claims(chart, coverage_id, person.payor[0])
    return resources + chart.resources


def _context(rng: random.Random, person: Person, reference: datetime) -> PatientContext:
    hours, minutes = person.city.utc_offset[1:].split(":")
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    return PatientContext(
        rng=rng,
        key=person.key,
        gender=person.gender,
        birth=person.birth,
        tz=timezone(-offset if person.city.utc_offset.startswith("-") else offset),
        reference=reference,
        practitioners=practitioner_ids(),
        hospital=HOSPITAL,
        laboratory=LABORATORY,
    )
