"""People domain rules: throttling per NIST SP 800-63B, sessions, users, passwords, what an app may get."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from phigate.oauth.rfc6749.authorization_request import RedirectedError, check_request
from phigate.people.access import RolePolicy, approve, offer
from phigate.people.attempts import AttemptPolicy, Failures, Verdict, account_key
from phigate.people.errors import UserError
from phigate.people.passwords import hash_password, verify
from phigate.people.roles import Role
from phigate.people.sessions import Session, SessionPolicy, methods
from phigate.people.users import User
from phigate.policy.scopes import ScopeSet
from phigate.settings.people import PeopleSettings, RoleSettings

NOW = datetime(2026, 1, 1, tzinfo=UTC)
HASH = hash_password("a fine password")


def user(role: Role, fhir_user: str | None, **extra: object) -> User:
    return User(user_id="u1", username="someone", display_name="Some One", role=role, fhir_user=fhir_user,
                password_hash=HASH, created_at=NOW, updated_at=NOW, **extra)  # type: ignore[arg-type]  # fmt: skip


# -- throttling ----------------------------------------------------------------------------------------


def test_failures_back_off_then_lock_at_the_nist_limit() -> None:
    policy = AttemptPolicy(backoff_after=5, lock_after=100, base_delay=1.0, max_delay=3600.0)
    assert policy.verdict(Failures(4, 1000.0), 1000.0) is Verdict.allowed
    assert policy.verdict(Failures(5, 1000.0), 1000.5) is Verdict.wait  # 1 s after the 5th failure
    assert policy.verdict(Failures(5, 1000.0), 1001.0) is Verdict.allowed
    assert policy.verdict(Failures(8, 1000.0), 1007.0) is Verdict.wait  # 2**3 = 8 s: the wait doubles
    assert policy.verdict(Failures(8, 1000.0), 1008.0) is Verdict.allowed
    assert policy.delay(40) == 3600.0  # capped
    assert policy.verdict(Failures(100, 0.0), 10**9) is Verdict.locked  # however long ago


def test_an_address_backs_off_but_never_locks() -> None:
    policy = AttemptPolicy(address_backoff_after=20)
    assert policy.verdict(Failures(19, 0.0), 0.0, can_lock=False) is Verdict.allowed
    assert policy.verdict(Failures(500, 0.0), 1.0, can_lock=False) is Verdict.wait
    assert policy.verdict(Failures(500, 0.0), 10**6, can_lock=False) is Verdict.allowed


@pytest.mark.parametrize(("backoff", "lock"), [(5, 101), (0, 10), (10, 10)])
def test_a_policy_past_the_nist_limit_is_refused(backoff: int, lock: int) -> None:
    with pytest.raises(ValueError, match="800-63B"):
        AttemptPolicy(backoff_after=backoff, lock_after=lock)


def test_counters_are_keyed_by_a_hash_of_the_username_not_the_user() -> None:
    assert account_key("canary") == account_key("canary") != account_key("nobody")
    assert "canary" not in account_key("canary")


# -- sessions ------------------------------------------------------------------------------------------


def test_sessions_end_after_idle_time_absolute_time_or_when_ended() -> None:
    policy = SessionPolicy(idle_seconds=1800, absolute_seconds=43200)
    session = Session("h", "u1", auth_time=0.0, last_seen=0.0, amr=methods("otp"))
    assert session.valid(1799.0, policy) and session.acr == "urn:phigate:aal2"
    assert not session.valid(1801.0, policy)  # 30 minutes idle: sign in again
    busy = Session("h", "u1", auth_time=0.0, last_seen=43_100.0, amr=methods(None))
    assert busy.valid(43_199.0, policy) and not busy.valid(43_201.0, policy)  # 12 hours, however busy
    assert busy.acr == "urn:phigate:aal1"
    assert not Session("h", "u1", 0.0, 0.0, ("pwd",), ended=True).valid(1.0, policy)


# -- users and passwords -------------------------------------------------------------------------------


def test_roles_link_to_the_right_fhir_resource() -> None:
    assert user(Role.patient, "Patient/pat-1").patient_id == "pat-1"
    assert user(Role.clinician, "Practitioner/p1").patient_id is None
    assert user(Role.auditor, None).fhir_user is None
    for role, link in [
        (Role.patient, "Practitioner/p1"),
        (Role.clinician, None),
        (Role.clinician, "Patient/x"),
    ]:
        with pytest.raises(UserError, match="fhir_user"):
            user(role, link)


@pytest.mark.parametrize("name", ["Alice", "a", "x" * 65, "-dash", "sp ace", "al\nice"])
def test_usernames_are_lower_case_and_bounded(name: str) -> None:
    with pytest.raises(UserError, match="username"):
        User(user_id="u", username=name, display_name="A", role=Role.admin, password_hash=HASH,
             created_at=NOW, updated_at=NOW)  # fmt: skip


def test_passwords_are_argon2id_and_an_unknown_user_fails_after_the_same_work() -> None:
    assert HASH.startswith("$argon2id$")
    assert verify(HASH, "a fine password")
    assert not verify(HASH, "a wrong password")
    assert not verify(None, "a fine password")  # no user: the dummy hash is checked, and it fails
    with pytest.raises(UserError, match="password"):
        hash_password("short")


# -- what an app may be granted ------------------------------------------------------------------------


def test_a_patient_gets_their_own_context_and_only_read_scopes() -> None:
    policy = RolePolicy.from_settings(PeopleSettings())
    asked = ScopeSet.parse("openid launch/patient patient/*.cruds user/*.rs")
    registered = ScopeSet.parse("openid launch/patient patient/*.cruds user/*.rs")
    offered = offer(asked, registered, user(Role.patient, "Patient/pat-1"), policy)
    assert offered.patient == "pat-1"
    assert offered.scopes.to_string() == "launch/patient openid patient/*.rs"  # the role's ceiling: read only


def test_a_clinician_without_a_patient_in_context_gets_no_patient_scopes() -> None:
    policy = RolePolicy.from_settings(PeopleSettings())
    asked = ScopeSet.parse("openid launch/patient patient/*.rs user/Observation.rs")
    registered = ScopeSet.parse("openid launch/patient patient/*.rs user/*.rs")
    offered = offer(asked, registered, user(Role.clinician, "Practitioner/p1"), policy)
    assert offered.patient is None and offered.scopes.to_string() == "openid user/Observation.rs"


def test_a_patient_in_context_from_a_launch_or_the_picker_opens_patient_scopes() -> None:
    policy = RolePolicy.from_settings(PeopleSettings())
    asked = registered = ScopeSet.parse("openid launch launch/patient launch/encounter patient/*.rs")
    clinician = user(Role.clinician, "Practitioner/p1")
    picked = offer(asked, registered, clinician, policy, patient="pat-7")
    assert picked.patient == "pat-7" and picked.encounter is None
    assert picked.scopes.to_string() == "launch launch/patient openid patient/*.rs"  # no encounter: no scope
    launched = offer(asked, registered, clinician, policy, patient="pat-7", encounter="enc-1")
    assert "launch/encounter" in launched.scopes.named and launched.encounter == "enc-1"
    # A patient user is always their own context, whatever the caller passes.
    own = offer(asked, registered, user(Role.patient, "Patient/pat-1"), policy, patient="pat-7")
    assert own.patient == "pat-1"


def test_the_picker_is_wanted_only_when_launch_patient_may_be_granted_without_a_patient() -> None:
    policy = RolePolicy.from_settings(PeopleSettings())
    asked = registered = ScopeSet.parse("openid launch/patient patient/*.rs")
    clinician = user(Role.clinician, "Practitioner/p1")
    assert offer(asked, registered, clinician, policy).patient_wanted
    assert not offer(asked, registered, clinician, policy, patient="pat-7").patient_wanted
    plain = ScopeSet.parse("openid user/*.rs")
    assert not offer(plain, registered, clinician, policy).patient_wanted  # not asked
    assert not offer(asked, plain, clinician, policy).patient_wanted  # the app is not registered for it
    auditor = user(Role.auditor, None)
    assert not offer(asked, registered, auditor, policy).patient_wanted  # beyond the role's ceiling
    assert not offer(asked, registered, user(Role.patient, "Patient/pat-1"), policy).patient_wanted


def launch_params(**change: str | None) -> dict[str, str]:
    params = {"response_type": "code", "client_id": "app", "redirect_uri": "https://app.example/cb",
              "state": "s1", "scope": "openid launch patient/*.rs", "aud": "https://gw/fhir",
              "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
              "code_challenge_method": "S256", "launch": "abc"}  # fmt: skip
    return {k: v for k, v in {**params, **change}.items() if v is not None}


@pytest.mark.parametrize(
    ("change", "error"),
    [({"scope": "openid patient/*.rs"}, "invalid_scope"), ({"launch": None}, "invalid_scope")],
)
def test_launch_and_the_launch_scope_come_together(change: dict[str, str | None], error: str) -> None:
    with pytest.raises(RedirectedError) as refused:
        check_request(
            launch_params(**change), ("https://app.example/cb",), ("https://gw/fhir",), "https://gw"
        )
    assert refused.value.error == error and "error=" + error in refused.value.location
    checked = check_request(launch_params(), ("https://app.example/cb",), ("https://gw/fhir",), "https://gw")
    assert checked.launch == "abc"


def test_the_person_may_only_narrow_what_was_offered() -> None:
    policy = RolePolicy.from_settings(PeopleSettings())
    asked = registered = ScopeSet.parse("openid user/*.rs")
    offered = offer(asked, registered, user(Role.clinician, "Practitioner/p1"), policy)
    assert approve(offered, ScopeSet.parse("user/*.cruds system/*.cruds")).to_string() == "user/*.rs"
    assert approve(offered, ScopeSet.parse("openid")).to_string() == "openid"


def test_role_ceilings_and_mfa_follow_settings() -> None:
    settings = PeopleSettings(
        roles={"patient": RoleSettings(mfa=True, scopes="openid patient/Observation.rs")}
    )
    policy = RolePolicy.from_settings(settings)
    assert policy.needs_mfa(user(Role.patient, "Patient/p"))
    assert policy.ceilings[Role.patient].to_string() == "openid patient/Observation.rs"
    assert RolePolicy.from_settings(PeopleSettings()).needs_mfa(user(Role.auditor, None))
    assert not RolePolicy.from_settings(PeopleSettings()).needs_mfa(user(Role.patient, "Patient/p"))


def test_unknown_roles_in_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        PeopleSettings(roles={"janitor": RoleSettings(mfa=False)})
