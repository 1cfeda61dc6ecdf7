"""A person who signs in: username, role, the FHIR resource they are, their credentials' state.

Rules every user value obeys: a username is 3 to 64 characters of lower-case
letters, digits and ``.``, ``_``, ``-``, ``@`` (so two users never differ only
by case); a clinician is linked to a Practitioner and a patient to a Patient
(``fhir_user`` is ``Practitioner/<id>`` or ``Patient/<id>``); the password hash
is an argon2id PHC string. The TOTP secret itself is not part of this value:
the store keeps it encrypted and hands it to the MFA check only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from phigate.people.errors import UserError
from phigate.people.roles import FHIR_USER_TYPE, Role

_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{2,63}")
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
MAX_DISPLAY_NAME = 200


class UserStatus(StrEnum):
    active = "active"
    disabled = "disabled"


@dataclass(frozen=True, kw_only=True)
class User:
    user_id: str
    username: str
    display_name: str
    role: Role
    password_hash: str
    created_at: datetime
    updated_at: datetime
    fhir_user: str | None = None  # "Practitioner/<id>" or "Patient/<id>"
    status: UserStatus = UserStatus.active
    totp_enrolled: bool = False
    locked: bool = False  # NIST SP 800-63B: too many failed attempts; an administrator unlocks

    def __post_init__(self) -> None:
        check_username(self.username)
        object.__setattr__(self, "role", Role(self.role))
        object.__setattr__(self, "status", UserStatus(self.status))
        if not self.display_name or len(self.display_name) > MAX_DISPLAY_NAME:
            raise UserError("display_name", f"give 1 to {MAX_DISPLAY_NAME} characters")
        if not self.password_hash.startswith("$argon2id$"):
            raise UserError("password_hash", "must be an argon2id hash")
        check_fhir_user(self.role, self.fhir_user)

    @property
    def active(self) -> bool:
        return self.status is UserStatus.active

    @property
    def patient_id(self) -> str | None:
        """The Patient this user is (patient role only): the launch context of their apps."""
        if self.role is Role.patient and self.fhir_user is not None:
            return self.fhir_user.removeprefix("Patient/")
        return None

    def with_status(self, status: UserStatus, now: datetime) -> User:
        return replace(self, status=status, updated_at=now)


def check_username(value: str) -> str:
    if not _USERNAME.fullmatch(value):
        raise UserError(
            "username", "use 3 to 64 lower-case letters, digits, '.', '_', '-' or '@', starting alphanumeric"
        )
    return value


def normalise_username(value: str) -> str:
    """What a sign-in form's username is looked up as (trimmed, lower-case), bounded in length."""
    return value.strip().lower()[:64]


def check_fhir_user(role: Role, fhir_user: str | None) -> None:
    expected = FHIR_USER_TYPE.get(role)
    if expected is None:
        return
    if fhir_user is None:
        raise UserError("fhir_user", f"a {role.value} is linked to a {expected} (give its id)")
    kind, _, ident = fhir_user.partition("/")
    if kind != expected or not _FHIR_ID.fullmatch(ident):
        raise UserError("fhir_user", f"must be {expected}/<id> for a {role.value}")
