"""Where, inside a resource, a search parameter looks: what the response checks read.

Two tables, written from the FhirPath expressions of the R4 (4.0.1)
SearchParameter definitions (``.where(resolve() is Patient)`` dropped: the
checks only look at references to ``Patient/...``; ``(X.y as T)`` becomes ``yT``):

- :data:`COMPARTMENT_PATHS`: the reference elements that put a resource in a
  patient's compartment, one entry per type of ``PATIENT_COMPARTMENT``;
- the token parameters a scope may constrain (:func:`is_constrainable`) and the
  elements that hold their values. A scope constraint on any other parameter is
  refused when the scope is parsed, because the gateway could narrow a search by
  it but could not check a resource read by id against it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

COMPARTMENT_PATHS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "Account": ("subject",), "AdverseEvent": ("subject",),
        "AllergyIntolerance": ("patient", "recorder", "asserter"),
        "Appointment": ("participant.actor",), "AppointmentResponse": ("actor",),
        "AuditEvent": ("agent.who", "entity.what"), "Basic": ("subject", "author"),
        "BodyStructure": ("patient",), "CarePlan": ("subject", "activity.detail.performer"),
        "CareTeam": ("subject", "participant.member"), "ChargeItem": ("subject",),
        "Claim": ("patient", "payee.party"), "ClaimResponse": ("patient",),
        "ClinicalImpression": ("subject",), "Communication": ("subject", "sender", "recipient"),
        "CommunicationRequest": ("subject", "sender", "recipient", "requester"),
        "Composition": ("subject", "author", "attester.party"), "Condition": ("subject", "asserter"),
        "Consent": ("patient",), "Coverage": ("policyHolder", "subscriber", "beneficiary", "payor"),
        "CoverageEligibilityRequest": ("patient",), "CoverageEligibilityResponse": ("patient",),
        "DetectedIssue": ("patient",), "DeviceRequest": ("subject", "performer"),
        "DeviceUseStatement": ("subject",), "DiagnosticReport": ("subject",),
        "DocumentManifest": ("subject", "author", "recipient"),
        "DocumentReference": ("subject", "author"), "Encounter": ("subject",),
        "EnrollmentRequest": ("candidate",), "EpisodeOfCare": ("patient",),
        "ExplanationOfBenefit": ("patient", "payee.party"), "FamilyMemberHistory": ("patient",),
        "Flag": ("subject",), "Goal": ("subject",), "Group": ("member.entity",),
        "ImagingStudy": ("subject",), "Immunization": ("patient",),
        "ImmunizationEvaluation": ("patient",), "ImmunizationRecommendation": ("patient",),
        "Invoice": ("subject", "recipient"), "List": ("subject", "source"),
        "MeasureReport": ("subject",), "Media": ("subject",),
        "MedicationAdministration": ("subject", "performer.actor"),
        "MedicationDispense": ("subject", "receiver"), "MedicationRequest": ("subject",),
        "MedicationStatement": ("subject",), "MolecularSequence": ("patient",),
        "NutritionOrder": ("patient",), "Observation": ("subject", "performer"),
        "Patient": ("link.other",), "Person": ("link.target",),
        "Procedure": ("subject", "performer.actor"), "Provenance": ("target",),
        "QuestionnaireResponse": ("subject", "author"), "RelatedPerson": ("patient",),
        "RequestGroup": ("subject", "action.participant"), "ResearchSubject": ("individual",),
        "RiskAssessment": ("subject",), "Schedule": ("actor",),
        "ServiceRequest": ("subject", "performer"), "Specimen": ("subject",),
        "SupplyDelivery": ("patient",), "SupplyRequest": ("deliverTo",),
        "VisionPrescription": ("patient",),
    }
)  # fmt: skip

# Token parameters whose element is named like the parameter, by the types that have them.
_SAME_NAME = {
    "category": "AdverseEvent AllergyIntolerance CarePlan CareTeam Communication CommunicationRequest "
    "Composition Condition Consent DeviceMetric DiagnosticReport DocumentReference Goal "
    "MedicationRequest MedicationStatement MessageDefinition Observation Procedure ResearchStudy "
    "ServiceRequest Substance SupplyRequest",
    "code": "AllergyIntolerance Basic ChargeItem Condition DetectedIssue DiagnosticReport Group List "
    "Medication MedicationKnowledge Observation Procedure RequestGroup ServiceRequest Substance Task",
    "status": "Account ActivityDefinition Appointment CapabilityStatement CarePlan CareTeam "
    "ChargeItemDefinition Claim ClaimResponse ClinicalImpression CodeSystem Communication "
    "CommunicationRequest CompartmentDefinition Composition ConceptMap Consent Contract Coverage "
    "CoverageEligibilityRequest CoverageEligibilityResponse Device DeviceRequest DiagnosticReport "
    "DocumentManifest DocumentReference EffectEvidenceSynthesis Encounter Endpoint EnrollmentRequest "
    "EnrollmentResponse EpisodeOfCare EventDefinition Evidence EvidenceVariable ExampleScenario "
    "ExplanationOfBenefit FamilyMemberHistory GraphDefinition ImagingStudy Immunization "
    "ImmunizationEvaluation ImplementationGuide InsurancePlan Invoice Library List Location Measure "
    "MeasureReport Media Medication MedicationAdministration MedicationDispense MedicationKnowledge "
    "MedicationRequest MedicationStatement MedicinalProductAuthorization MessageDefinition "
    "NamingSystem NutritionOrder Observation OperationDefinition PaymentNotice "
    "PaymentReconciliation PlanDefinition Procedure Questionnaire QuestionnaireResponse "
    "RequestGroup ResearchDefinition ResearchElementDefinition ResearchStudy ResearchSubject "
    "RiskEvidenceSynthesis SearchParameter ServiceRequest Slot Specimen StructureDefinition "
    "StructureMap Subscription Substance SupplyDelivery SupplyRequest Task TerminologyCapabilities "
    "TestScript ValueSet VisionPrescription",
    "type": "Account AllergyIntolerance AuditEvent Bundle Composition Coverage Device DeviceDefinition "
    "DeviceMetric DocumentManifest DocumentReference Encounter EpisodeOfCare Group InsurancePlan "
    "Invoice Library Location Media MedicationDispense MolecularSequence NamingSystem "
    "OperationDefinition Organization PlanDefinition SearchParameter Specimen",
    "intent": "CarePlan DeviceRequest MedicationRequest RequestGroup ServiceRequest Task",
    "class": "Encounter",
}
_OTHER_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("AllergyIntolerance", "code"): ("code", "reaction.substance"),
    ("Condition", "clinical-status"): ("clinicalStatus",),
    ("AllergyIntolerance", "clinical-status"): ("clinicalStatus",),
    ("Condition", "verification-status"): ("verificationStatus",),
    ("AllergyIntolerance", "verification-status"): ("verificationStatus",),
    ("DeviceRequest", "code"): ("codeCodeableConcept",),
    ("FamilyMemberHistory", "code"): ("condition.code",),
    ("MedicationAdministration", "code"): ("medicationCodeableConcept",),
    ("MedicationDispense", "code"): ("medicationCodeableConcept",),
    ("MedicationRequest", "code"): ("medicationCodeableConcept",),
    ("MedicationStatement", "code"): ("medicationCodeableConcept",),
    ("Substance", "code"): ("code", "ingredient.substanceCodeableConcept"),
    ("ImmunizationRecommendation", "status"): ("recommendation.forecastStatus",),
    ("SpecimenDefinition", "type"): ("typeCollected",),
    ("Subscription", "type"): ("channel.type",),
}
# Parameters every resource has.
_EVERY_TYPE = {"_tag": ("meta.tag",), "_security": ("meta.security",)}


def _build_constraint_paths() -> Mapping[tuple[str, str], tuple[str, ...]]:
    table: dict[tuple[str, str], tuple[str, ...]] = {
        (type_name, name): (name,) for name, types in _SAME_NAME.items() for type_name in types.split()
    }
    table.update(_OTHER_PATHS)
    return MappingProxyType(table)


CONSTRAINT_PATHS = _build_constraint_paths()


def constraint_paths(resource_type: str, name: str) -> tuple[str, ...]:
    """The elements a token parameter reads on ``resource_type``; empty when not modelled."""
    return _EVERY_TYPE.get(name) or CONSTRAINT_PATHS.get((resource_type, name), ())


def is_constrainable(resource_type: str, name: str) -> bool:
    return bool(constraint_paths(resource_type, name))


def compartment_paths(resource_type: str) -> tuple[str, ...]:
    return COMPARTMENT_PATHS.get(resource_type, ())


def values_at(resource: Mapping[str, Any], path: str) -> Iterator[Any]:
    """Every value at a dotted element path, lists flattened at each step."""
    current: list[Any] = [resource]
    for name in path.split("."):
        current = [item for node in current if isinstance(node, Mapping) for item in _listed(node.get(name))]
    yield from current


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
