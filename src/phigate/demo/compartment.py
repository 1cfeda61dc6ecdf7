"""The Patient compartment: which references put a resource in a patient's record.

From the FHIR R4 CompartmentDefinition ``patient``, for the resource types the demo
EHR serves. The store indexes by it and compartment searches and ``$everything``
read through it.
"""

from __future__ import annotations

from typing import Any

from phigate.demo.paths import references_at

PATIENT_LINKS: dict[str, tuple[str, ...]] = {
    "Encounter": ("subject",),
    "Condition": ("subject", "asserter"),
    "MedicationRequest": ("subject",),
    "Observation": ("subject", "performer"),
    "DiagnosticReport": ("subject",),
    "Immunization": ("patient",),
    "Coverage": ("policyHolder", "subscriber", "beneficiary", "payor"),
    "Claim": ("patient", "payee.party"),
}


def patient_ids(resource: dict[str, Any]) -> set[str]:
    """Ids of the patients whose compartment holds ``resource`` (a Patient is in its own)."""
    resource_type = resource.get("resourceType")
    if resource_type == "Patient":
        return {resource["id"]} if isinstance(resource.get("id"), str) else set()
    found: set[str] = set()
    for path in PATIENT_LINKS.get(str(resource_type), ()):
        found.update(target_id for target_type, target_id in references_at(resource, path)
                     if target_type == "Patient")  # fmt: skip
    return found
