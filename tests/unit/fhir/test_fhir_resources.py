from __future__ import annotations

import pytest

from phigate.fhir.resources import (
    COMPARTMENT_TYPES,
    PATIENT_COMPARTMENT,
    RESOURCE_TYPES,
    in_patient_compartment,
    is_resource_type,
    patient_compartment_params,
)


def test_r4_resource_types_are_all_there_and_no_later_ones() -> None:
    assert len(RESOURCE_TYPES) == 146
    for name in ("Patient", "Observation", "Parameters", "Binary", "Bundle", "MedicinalProduct",
                 "EffectEvidenceSynthesis", "VisionPrescription", "SubstanceSpecification"):  # fmt: skip
        assert is_resource_type(name)
    # R5-only and STU3-only names are not R4 types.
    for name in ("ActorDefinition", "NutritionIntake", "ProcedureRequest", "DataElement", "Resource"):
        assert not is_resource_type(name)


def test_compartment_tables_name_only_known_types() -> None:
    assert set(PATIENT_COMPARTMENT) <= RESOURCE_TYPES
    assert COMPARTMENT_TYPES <= RESOURCE_TYPES


@pytest.mark.parametrize(
    ("resource_type", "params"),
    [
        ("Observation", ("subject", "performer")),
        ("Condition", ("patient", "asserter")),
        ("Encounter", ("patient",)),
        ("MedicationRequest", ("subject",)),
        ("MedicationStatement", ("subject",)),
        ("MedicationAdministration", ("patient", "performer", "subject")),
        ("Immunization", ("patient",)),
        ("DiagnosticReport", ("subject",)),
        ("Procedure", ("patient", "performer")),
        ("AllergyIntolerance", ("patient", "recorder", "asserter")),
        ("CarePlan", ("patient", "performer")),
        ("CareTeam", ("patient", "participant")),
        ("Claim", ("patient", "payee")),
        ("ClaimResponse", ("patient",)),
        ("Coverage", ("policy-holder", "subscriber", "beneficiary", "payor")),
        ("ExplanationOfBenefit", ("patient", "payee")),
        ("DocumentReference", ("subject", "author")),
        ("ServiceRequest", ("subject", "performer")),
        ("Specimen", ("subject",)),
        ("Goal", ("patient",)),
        ("Appointment", ("actor",)),
        ("Patient", ("link",)),
        ("RelatedPerson", ("patient",)),
        ("Consent", ("patient",)),
        ("Composition", ("subject", "author", "attester")),
        ("Flag", ("patient",)),
        ("List", ("subject", "source")),
    ],
)
def test_patient_compartment_params(resource_type: str, params: tuple[str, ...]) -> None:
    assert patient_compartment_params(resource_type) == params
    assert in_patient_compartment(resource_type)


@pytest.mark.parametrize(
    "resource_type", ["Organization", "Practitioner", "Medication", "ValueSet", "Bundle"]
)
def test_types_never_in_patient_compartment(resource_type: str) -> None:
    assert patient_compartment_params(resource_type) == ()
    assert not in_patient_compartment(resource_type)
