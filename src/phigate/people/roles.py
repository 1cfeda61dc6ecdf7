"""Roles a person holds, and what each role may be granted through an app.

A role's ceiling is a SMART scope set: an app acting for the person never gets
more than ``requested ∩ client registration ∩ role ceiling ∩ approved``. The
defaults here may be overridden per role in ``people.roles`` (settings).
"""

from __future__ import annotations

from enum import StrEnum

IDENTITY_SCOPES = "openid fhirUser offline_access online_access"


class Role(StrEnum):
    clinician = "clinician"
    patient = "patient"
    admin = "admin"
    security_officer = "security_officer"
    privacy_officer = "privacy_officer"
    auditor = "auditor"


# Which FHIR resource a user of the role is (``fhirUser``), when the role names one.
FHIR_USER_TYPE: dict[Role, str] = {Role.clinician: "Practitioner", Role.patient: "Patient"}

DEFAULT_CEILINGS: dict[Role, str] = {
    Role.clinician: f"{IDENTITY_SCOPES} launch launch/patient launch/encounter user/*.cruds patient/*.cruds",
    Role.patient: f"{IDENTITY_SCOPES} launch launch/patient patient/*.rs",
    Role.admin: IDENTITY_SCOPES,
    Role.security_officer: f"{IDENTITY_SCOPES} user/AuditEvent.rs",
    Role.privacy_officer: f"{IDENTITY_SCOPES} user/AuditEvent.rs user/Consent.rs",
    Role.auditor: f"{IDENTITY_SCOPES} user/AuditEvent.rs",
}

# NIST SP 800-63B AAL2 for the workforce; patients sign in with a password unless configured otherwise.
DEFAULT_MFA: dict[Role, bool] = {role: role is not Role.patient for role in Role}

# Advertised in discovery (SMART scopes_supported) when people sign in.
PEOPLE_SCOPES = ("openid", "fhirUser", "launch", "launch/patient", "launch/encounter", "offline_access",
                 "online_access", "patient/*.rs", "patient/*.cruds", "user/*.rs", "user/*.cruds")  # fmt: skip
