"""Confinement to one patient's compartment (FHIR R4 ``CompartmentDefinition/patient``).

A search in patient context is narrowed with one compartment parameter of its
type (the first of :data:`_PREFERRED` the type has, valued ``Patient/<id>``; a
Patient search with ``_id``). Narrowing by one parameter may return less than
the whole compartment, never more. A query that names another patient is refused
rather than narrowed to an empty answer, so the client learns why.

A resource is in the compartment when one of its compartment references points
to ``Patient/<id>`` (relative, or absolute ending in ``/Patient/<id>``, with or
without ``/_history/<v>``); a Patient only when it is the patient. Types outside
the compartment (Practitioner, Medication, Organization...) are never in it, so a
patient-context token cannot read them: the safe default until a data contract
says otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from typing import Any

from phigate.fhir.request import ID_RE
from phigate.fhir.resources import patient_compartment_params
from phigate.fhir.search import SearchParam
from phigate.policy.elements import compartment_paths, values_at
from phigate.types import PatientId

_PREFERRED = ("patient", "subject", "beneficiary", "individual", "actor", "member")
_PATIENT_REF = re.compile(
    r"(?:[a-z][a-z0-9+.\-]*://[^\s]*/)?Patient/(" + ID_RE.pattern + r")(?:/_history/" + ID_RE.pattern + ")?"
)


class Confinement(Enum):
    INSIDE = "inside"  # the query already selects only the patient's resources
    NARROW = "narrow"  # the query must be narrowed to the patient
    OTHER_PATIENT = "other-patient"  # the query names another patient


def is_compartment_type(resource_type: str) -> bool:
    return bool(compartment_paths(resource_type))


def narrowing(resource_type: str, patient: PatientId) -> tuple[str, str]:
    """The (parameter, value) that confines a search of ``resource_type`` to ``patient``."""
    if resource_type == "Patient":
        return "_id", patient
    params = patient_compartment_params(resource_type)
    name = next((name for name in _PREFERRED if name in params), params[0])
    return name, f"Patient/{patient}"


def confinement(params: tuple[SearchParam, ...], resource_type: str, patient: PatientId) -> Confinement:
    named = [_named_patients(param, resource_type) for param in params if not param.chain]
    if any(ids - {patient} for ids in named):
        return Confinement.OTHER_PATIENT
    linking = [ids for param, ids in zip(params, named, strict=False) if _links(param, resource_type)]
    return Confinement.INSIDE if any(ids == {patient} for ids in linking) else Confinement.NARROW


def _links(param: SearchParam, resource_type: str) -> bool:
    """A plain compartment parameter, whose patient reference alone confines the search."""
    return (
        not param.chain
        and param.modifier in (None, "Patient")
        and param.name in _patient_params(resource_type)
    )


def _patient_params(resource_type: str) -> tuple[str, ...]:
    if resource_type == "Patient":
        return ("_id",)
    return patient_compartment_params(resource_type)


def _named_patients(param: SearchParam, resource_type: str) -> set[str]:
    """Patient ids the values name: ``Patient/<id>`` in any parameter, a bare id in a patient one."""
    bare = param.modifier in (None, "Patient") and (
        param.name in _patient_params(resource_type) or param.name in ("patient", "subject")
    )
    found: set[str] = set()
    for value in param.values:
        target = referenced_patient(value.raw)
        if target is None and bare and _bare_id(value.raw):
            target = value.raw
        if target is not None:
            found.add(target)
    return found


def _bare_id(raw: str) -> bool:
    return ID_RE.fullmatch(raw) is not None


def referenced_patient(reference: str) -> str | None:
    """The id in a ``Patient/<id>`` reference (relative or absolute), else None."""
    match = _PATIENT_REF.fullmatch(reference)
    return match.group(1) if match else None


def in_compartment(resource: Mapping[str, Any], patient: PatientId) -> bool:
    resource_type = resource.get("resourceType")
    if resource_type == "Patient":
        return resource.get("id") == patient
    if not isinstance(resource_type, str):
        return False
    return any(
        _points_to(value, patient)
        for path in compartment_paths(resource_type)
        for value in values_at(resource, path)
    )


def _points_to(value: Any, patient: PatientId) -> bool:
    reference = value.get("reference") if isinstance(value, Mapping) else None
    return isinstance(reference, str) and referenced_patient(reference) == patient
