"""The resource types of FHIR R4 (4.0.1) and the R4 Patient compartment.

The gateway accepts only resource types it knows: an unknown type in a path or
a search parameter is refused before any policy runs, so a policy never has to
reason about a name it has not seen. The Patient compartment says, for each
resource type, which search parameters tie a resource to a patient
(``CompartmentDefinition/patient``, version 4.0.1); access checks use it to
narrow a search to one patient and to check a response stays inside that
patient's records.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

RESOURCE_TYPES: frozenset[str] = frozenset(
    {
        "Account", "ActivityDefinition", "AdverseEvent", "AllergyIntolerance", "Appointment",
        "AppointmentResponse", "AuditEvent", "Basic", "Binary", "BiologicallyDerivedProduct",
        "BodyStructure", "Bundle", "CapabilityStatement", "CarePlan", "CareTeam", "CatalogEntry",
        "ChargeItem", "ChargeItemDefinition", "Claim", "ClaimResponse", "ClinicalImpression",
        "CodeSystem", "Communication", "CommunicationRequest", "CompartmentDefinition",
        "Composition", "ConceptMap", "Condition", "Consent", "Contract", "Coverage",
        "CoverageEligibilityRequest", "CoverageEligibilityResponse", "DetectedIssue", "Device",
        "DeviceDefinition", "DeviceMetric", "DeviceRequest", "DeviceUseStatement",
        "DiagnosticReport", "DocumentManifest", "DocumentReference", "EffectEvidenceSynthesis",
        "Encounter", "Endpoint", "EnrollmentRequest", "EnrollmentResponse", "EpisodeOfCare",
        "EventDefinition", "Evidence", "EvidenceVariable", "ExampleScenario",
        "ExplanationOfBenefit", "FamilyMemberHistory", "Flag", "Goal", "GraphDefinition", "Group",
        "GuidanceResponse", "HealthcareService", "ImagingStudy", "Immunization",
        "ImmunizationEvaluation", "ImmunizationRecommendation", "ImplementationGuide",
        "InsurancePlan", "Invoice", "Library", "Linkage", "List", "Location", "Measure",
        "MeasureReport", "Media", "Medication", "MedicationAdministration", "MedicationDispense",
        "MedicationKnowledge", "MedicationRequest", "MedicationStatement", "MedicinalProduct",
        "MedicinalProductAuthorization", "MedicinalProductContraindication",
        "MedicinalProductIndication", "MedicinalProductIngredient", "MedicinalProductInteraction",
        "MedicinalProductManufactured", "MedicinalProductPackaged",
        "MedicinalProductPharmaceutical", "MedicinalProductUndesirableEffect", "MessageDefinition",
        "MessageHeader", "MolecularSequence", "NamingSystem", "NutritionOrder", "Observation",
        "ObservationDefinition", "OperationDefinition", "OperationOutcome", "Organization",
        "OrganizationAffiliation", "Parameters", "Patient", "PaymentNotice",
        "PaymentReconciliation", "Person", "PlanDefinition", "Practitioner", "PractitionerRole",
        "Procedure", "Provenance", "Questionnaire", "QuestionnaireResponse", "RelatedPerson",
        "RequestGroup", "ResearchDefinition", "ResearchElementDefinition", "ResearchStudy",
        "ResearchSubject", "RiskAssessment", "RiskEvidenceSynthesis", "Schedule",
        "SearchParameter", "ServiceRequest", "Slot", "Specimen", "SpecimenDefinition",
        "StructureDefinition", "StructureMap", "Subscription", "Substance",
        "SubstanceNucleicAcid", "SubstancePolymer", "SubstanceProtein",
        "SubstanceReferenceInformation", "SubstanceSourceMaterial", "SubstanceSpecification",
        "SupplyDelivery", "SupplyRequest", "Task", "TerminologyCapabilities", "TestReport",
        "TestScript", "ValueSet", "VerificationResult", "VisionPrescription",
    }
)  # fmt: skip

# The resource types that define a compartment in R4 (CompartmentDefinition codes).
COMPARTMENT_TYPES: frozenset[str] = frozenset(
    {"Patient", "Encounter", "RelatedPerson", "Practitioner", "Device"}
)

# Resource type -> the search parameters that put a resource of that type in a
# patient's compartment. A type absent here is never in a Patient compartment.
PATIENT_COMPARTMENT: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "Account": ("subject",),
        "AdverseEvent": ("subject",),
        "AllergyIntolerance": ("patient", "recorder", "asserter"),
        "Appointment": ("actor",),
        "AppointmentResponse": ("actor",),
        "AuditEvent": ("patient",),
        "Basic": ("patient", "author"),
        "BodyStructure": ("patient",),
        "CarePlan": ("patient", "performer"),
        "CareTeam": ("patient", "participant"),
        "ChargeItem": ("subject",),
        "Claim": ("patient", "payee"),
        "ClaimResponse": ("patient",),
        "ClinicalImpression": ("subject",),
        "Communication": ("subject", "sender", "recipient"),
        "CommunicationRequest": ("subject", "sender", "recipient", "requester"),
        "Composition": ("subject", "author", "attester"),
        "Condition": ("patient", "asserter"),
        "Consent": ("patient",),
        "Coverage": ("policy-holder", "subscriber", "beneficiary", "payor"),
        "CoverageEligibilityRequest": ("patient",),
        "CoverageEligibilityResponse": ("patient",),
        "DetectedIssue": ("patient",),
        "DeviceRequest": ("subject", "performer"),
        "DeviceUseStatement": ("subject",),
        "DiagnosticReport": ("subject",),
        "DocumentManifest": ("subject", "author", "recipient"),
        "DocumentReference": ("subject", "author"),
        "Encounter": ("patient",),
        "EnrollmentRequest": ("subject",),
        "EpisodeOfCare": ("patient",),
        "ExplanationOfBenefit": ("patient", "payee"),
        "FamilyMemberHistory": ("patient",),
        "Flag": ("patient",),
        "Goal": ("patient",),
        "Group": ("member",),
        "ImagingStudy": ("patient",),
        "Immunization": ("patient",),
        "ImmunizationEvaluation": ("patient",),
        "ImmunizationRecommendation": ("patient",),
        "Invoice": ("subject", "patient", "recipient"),
        "List": ("subject", "source"),
        "MeasureReport": ("patient",),
        "Media": ("subject",),
        "MedicationAdministration": ("patient", "performer", "subject"),
        "MedicationDispense": ("subject", "patient", "receiver"),
        "MedicationRequest": ("subject",),
        "MedicationStatement": ("subject",),
        "MolecularSequence": ("patient",),
        "NutritionOrder": ("patient",),
        "Observation": ("subject", "performer"),
        "Patient": ("link",),
        "Person": ("patient",),
        "Procedure": ("patient", "performer"),
        "Provenance": ("patient",),
        "QuestionnaireResponse": ("subject", "author"),
        "RelatedPerson": ("patient",),
        "RequestGroup": ("subject", "participant"),
        "ResearchSubject": ("individual",),
        "RiskAssessment": ("subject",),
        "Schedule": ("actor",),
        "ServiceRequest": ("subject", "performer"),
        "Specimen": ("subject",),
        "SupplyDelivery": ("patient",),
        "SupplyRequest": ("subject",),
        "VisionPrescription": ("patient",),
    }
)


def is_resource_type(name: str) -> bool:
    return name in RESOURCE_TYPES


def patient_compartment_params(resource_type: str) -> tuple[str, ...]:
    """The search parameters linking ``resource_type`` to a patient; empty if it is never linked.

    A ``Patient`` is also in its own compartment by identity, which no parameter expresses.
    """
    return PATIENT_COMPARTMENT.get(resource_type, ())


def in_patient_compartment(resource_type: str) -> bool:
    return resource_type in PATIENT_COMPARTMENT
