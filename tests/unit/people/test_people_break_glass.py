"""Break-glass rules: who may, what a reason is, what is granted (beyond the ceiling, never refresh)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from phigate.people.access import RolePolicy
from phigate.people.break_glass import EmergencyPolicy, check_note, check_reviewer
from phigate.people.errors import UserError
from phigate.people.passwords import hash_password
from phigate.people.roles import Role
from phigate.people.users import User, UserStatus
from phigate.policy.scopes import ScopeSet
from phigate.settings.people import BreakGlassSettings, PeopleSettings

NOW = datetime(2026, 1, 1, tzinfo=UTC)
HASH = hash_password("correct horse battery")
ROLES = RolePolicy.from_settings(
    PeopleSettings(roles={"clinician": {"scopes": "openid user/Practitioner.rs"}})
)
POLICY = EmergencyPolicy.from_settings(BreakGlassSettings())


def user(role: Role, fhir_user: str | None, **extra: object) -> User:
    return User(user_id="u1", username="someone", display_name="Some One", role=role, fhir_user=fhir_user,
                password_hash=HASH, created_at=NOW, updated_at=NOW, **extra)  # type: ignore[arg-type]  # fmt: skip


CLINICIAN = user(Role.clinician, "Practitioner/p1")


def test_only_active_users_of_the_configured_roles_may_break_the_glass() -> None:
    assert POLICY.may(CLINICIAN)
    assert not POLICY.may(user(Role.patient, "Patient/x"))
    assert not POLICY.may(user(Role.clinician, "Practitioner/p1", status=UserStatus.disabled))
    off = EmergencyPolicy.from_settings(BreakGlassSettings(enabled=False))
    assert not off.may(CLINICIAN)


def test_a_reason_is_required_and_bounded() -> None:
    assert POLICY.reason("  trauma   bay 2, patient unresponsive ") == "trauma bay 2, patient unresponsive"
    for bad in ("", "x" * 14, "   " + "y" * 5, "z" * 1001):
        with pytest.raises(UserError):
            POLICY.reason(bad)


def test_the_grant_widens_the_ceiling_within_what_the_app_asked_and_registered_without_refresh() -> None:
    registered = ScopeSet.parse("openid offline_access user/*.rs user/*.cruds")
    asked = ScopeSet.parse("openid offline_access user/*.cruds")
    granted = POLICY.offer(asked, registered, CLINICIAN, ROLES)
    assert "offline_access" not in granted.scopes
    assert granted.scopes.to_string() == "openid user/*.rs"  # read/search only: writes stay out of reach
    normal = ROLES.ceilings[Role.clinician]
    assert not normal.covers(next(iter(ScopeSet.parse("user/Patient.rs").clinical)))
    unregistered = POLICY.offer(asked, ScopeSet.parse("openid"), CLINICIAN, ROLES)
    assert unregistered.scopes.to_string() == "openid"  # never beyond the app's registration


def test_only_a_security_officer_closes_a_review_with_a_note() -> None:
    officer = user(Role.security_officer, None)
    assert check_reviewer(officer) is officer
    for other in (None, CLINICIAN, user(Role.security_officer, None, status=UserStatus.disabled)):
        with pytest.raises(UserError):
            check_reviewer(other)
    assert check_note("  reviewed  ") == "reviewed"
    with pytest.raises(UserError):
        check_note("   ")


def test_settings_refuse_an_unknown_role() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        BreakGlassSettings(roles=("clinician", "janitor"))
