"""PKCE, TOTP, the sealed sign-in flow, and the sign-in decisions with in-memory stores."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from redis.asyncio import Redis

from phigate.adapters.memory_counters import MemoryAttemptCounters
from phigate.adapters.redis.counters import RedisAttemptCounters
from phigate.oauth import signin as signin_module
from phigate.oauth.flow import Flow, FlowSeal
from phigate.oauth.jose import KeySet, TokenError, generate_key, load_private_key
from phigate.oauth.mfa import totp
from phigate.oauth.rfc6749.authorization_request import AuthorizationRequest
from phigate.oauth.rfc7636 import challenge_problem, s256, verifier_matches
from phigate.oauth.signin import Outcome, SignIn
from phigate.people.access import RolePolicy
from phigate.people.attempts import AttemptCounters, AttemptPolicy, Failures
from phigate.people.passwords import hash_password
from phigate.people.roles import Role
from phigate.people.sessions import Session, SessionPolicy
from phigate.people.users import User, UserStatus
from phigate.settings.people import PeopleSettings

NOW = datetime(2026, 1, 1, tzinfo=UTC)


# -- PKCE (RFC 7636) -----------------------------------------------------------------------------------


def test_s256_agrees_with_authlib_and_checks_the_verifier() -> None:
    verifier = generate_token(64)
    challenge = create_s256_code_challenge(verifier)  # a client library's view of RFC 7636 4.2
    assert s256(verifier) == challenge
    assert verifier_matches(verifier, challenge)
    assert not verifier_matches("x" * 43, challenge)
    assert not verifier_matches(None, challenge)
    assert not verifier_matches("short", s256("short"))  # under 43 characters: not a verifier


def test_pkce_is_required_and_plain_refused() -> None:
    good = s256("v" * 43)
    assert challenge_problem(good, "S256") is None
    assert challenge_problem(None, None) is not None
    assert challenge_problem(good, None) is not None  # the default method would be plain
    assert challenge_problem("v" * 43, "plain") is not None
    assert challenge_problem("not base64url!", "S256") is not None


# -- TOTP (RFC 6238) -----------------------------------------------------------------------------------


def test_totp_accepts_one_step_of_drift_and_names_the_step() -> None:
    secret = totp.new_secret()
    now = 1_800_000_000.0
    step = int(now // 30)
    assert totp.matching_step(secret, totp.code_at(secret, now), now) == step
    assert totp.matching_step(secret, totp.code_at(secret, now - 30), now) == step - 1
    assert totp.matching_step(secret, totp.code_at(secret, now - 90), now) is None
    assert (
        totp.matching_step(secret, "12345", now) is None and totp.matching_step(secret, "abcdef", now) is None
    )


def test_recovery_codes_are_random_and_hashed_loosely() -> None:
    codes = totp.new_recovery_codes()
    assert len(set(codes)) == totp.RECOVERY_CODES and all(totp.looks_like_recovery_code(c) for c in codes)
    assert totp.recovery_hash(codes[0]) == totp.recovery_hash(codes[0].lower().replace("-", " "))


# -- the sealed flow -----------------------------------------------------------------------------------


class Keys:
    def __init__(self) -> None:
        private, public = generate_key("ES256")
        self._private = load_private_key(private)
        self._public = KeySet.from_jwks({"keys": [public]})

    def active(self) -> Any:
        return self._private

    def verification_keys(self) -> KeySet:
        return self._public


REQUEST = AuthorizationRequest(
    "app", "https://app.example/cb", "st", "openid", s256("v" * 43), "https://gw/fhir"
)


def test_a_flow_opens_only_in_its_browser_at_its_step_and_in_time() -> None:
    seal = FlowSeal(Keys(), "https://gw", seconds=600)
    token = seal.seal(Flow(REQUEST, "mfa", "u1"), "browser-1", 1000.0)
    assert seal.open(token, "browser-1", 1100.0, "mfa") == Flow(REQUEST, "mfa", "u1")
    refused = [("browser-2", 1100.0, "mfa"), (None, 1100.0, "mfa"), ("browser-1", 1601.0, "mfa"),
               ("browser-1", 1100.0, "consent")]  # fmt: skip
    for browser, now, step in refused:
        with pytest.raises(TokenError):
            seal.open(token, browser, now, step)
    other = FlowSeal(Keys(), "https://gw", seconds=600)  # another deployment's key
    with pytest.raises(TokenError):
        other.open(token, "browser-1", 1100.0, "mfa")


# -- sign-in decisions ---------------------------------------------------------------------------------


class Users:
    def __init__(self, *users: User, secret: str | None = None) -> None:
        self.users = {u.user_id: u for u in users}
        self.secret = secret
        self.last_step: int | None = None
        self.recovery = {totp.recovery_hash("AAAA-BBBB-CCCC-DDDD")}

    async def by_username(self, username: str) -> User | None:
        return next((u for u in self.users.values() if u.username == username), None)

    async def get(self, user_id: str) -> User | None:
        return self.users.get(user_id)

    async def set_locked(self, user_id: str, locked: bool) -> User:
        self.users[user_id] = replace(self.users[user_id], locked=locked)
        return self.users[user_id]

    async def totp_secret(self, user_id: str) -> str | None:
        return self.secret

    async def claim_totp_step(self, user_id: str, step: int) -> bool:
        if self.last_step is not None and step <= self.last_step:
            return False
        self.last_step = step
        return True

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        if code_hash in self.recovery:
            self.recovery.discard(code_hash)
            return True
        return False

    async def security_keys(self, user_id: str) -> list[Any]:
        return []  # WebAuthn: tests/unit/oauth_people/test_webauthn.py


class Sessions:
    def __init__(self) -> None:
        self.started: list[Session] = []

    async def start(self, session: Session) -> None:
        self.started.append(session)


def person(username: str, role: Role, fhir_user: str | None, **extra: Any) -> User:
    return User(user_id=secrets.token_hex(4), username=username, display_name=username, role=role,
                fhir_user=fhir_user, password_hash=hash_password("the right one"), created_at=NOW,
                updated_at=NOW, **extra)  # fmt: skip


def signin(users: Users, clock: list[float]) -> SignIn:
    counters = MemoryAttemptCounters(lambda: clock[0])
    roles = RolePolicy.from_settings(PeopleSettings())
    stores: Any = (users, Sessions())  # the parts of the stores that sign-in uses
    return SignIn(*stores, counters, AttemptPolicy(), roles, SessionPolicy(), clock=lambda: clock[0])


async def test_unknown_disabled_and_wrong_all_read_the_same_after_one_argon2_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[str | None] = []
    real = signin_module.verify

    def counting(stored: str | None, password: str) -> bool:
        checked.append(stored)
        return real(stored, password)

    monkeypatch.setattr(signin_module, "verify", counting)
    gone = person("gone", Role.patient, "Patient/p2", status=UserStatus.disabled)
    service = signin(Users(person("pat", Role.patient, "Patient/p1"), gone), [1000.0])
    attempts = [("pat", "wrong one!"), ("nobody", "the right one"), ("gone", "the right one")]
    results = [await service.password(name, password, "10.0.0.1") for name, password in attempts]
    assert [r.outcome for r in results] == [Outcome.refused] * 3 and all(r.user is None for r in results)
    assert len(checked) == 3  # one argon2 verification each, also for no user
    ok = await service.password("  PAT ", "the right one", "10.0.0.1")  # trimmed, case-folded
    assert ok.outcome is Outcome.signed_in and ok.session_id


async def test_second_factor_codes_work_once_and_failures_lock() -> None:
    secret = totp.new_secret()
    clinician = person("doc", Role.clinician, "Practitioner/p", totp_enrolled=True)
    users, clock = Users(clinician, secret=secret), [1_800_000_000.0]
    service = signin(users, clock)
    assert (await service.password("doc", "the right one", "a")).outcome is Outcome.second_factor
    code = totp.code_at(secret, clock[0])
    assert (await service.second_factor(clinician.user_id, code, "a")).outcome is Outcome.signed_in
    assert (await service.second_factor(clinician.user_id, code, "a")).outcome is Outcome.refused  # reused
    assert (
        await service.second_factor(clinician.user_id, "AAAA-BBBB-CCCC-DDDD", "b")
    ).outcome is Outcome.signed_in
    assert (
        await service.second_factor(clinician.user_id, "AAAA-BBBB-CCCC-DDDD", "b")
    ).outcome is Outcome.refused
    outcomes = [
        (await service.second_factor(clinician.user_id, "000000", f"ip{i}")).outcome for i in range(101)
    ]
    assert Outcome.wait in outcomes and outcomes[-1] is Outcome.locked
    clock[0] += 86_000.0
    fresh = totp.code_at(secret, clock[0])
    assert (await service.second_factor(clinician.user_id, fresh, "z")).outcome is Outcome.locked
    assert users.users[clinician.user_id].locked  # persisted: an administrator unlocks


async def test_a_role_that_needs_mfa_without_a_factor_must_enrol() -> None:
    service = signin(Users(person("adm", Role.admin, None)), [1000.0])
    assert (await service.password("adm", "the right one", "a")).outcome is Outcome.enrol


# -- shared counters: one contract, memory and Redis ---------------------------------------------------


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[AttemptCounters]:
    if request.param == "memory":
        yield MemoryAttemptCounters(lambda: 1000.0)
        return
    client = Redis.from_url("redis://127.0.0.1:6379/0", decode_responses=True)
    namespace = f"phigate-test-{secrets.token_hex(4)}"
    try:
        yield RedisAttemptCounters(client, namespace, timeout=1.0)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{namespace}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_counters_count_read_and_clear(counters: AttemptCounters) -> None:
    assert await counters.read("k") == Failures()
    assert (await counters.record("k", 990.0, 60)).count == 1
    assert await counters.record("k", 995.0, 60) == Failures(2, 995.0)
    assert await counters.read("k") == Failures(2, 995.0)
    assert await counters.read("other") == Failures()
    await counters.clear("k")
    assert await counters.read("k") == Failures()
