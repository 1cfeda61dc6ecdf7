"""Signing a person in: password, then the second factor, under shared throttling.

Outcomes, not exceptions (decisions are values). The caller renders each one;
an unknown username, a disabled user and a wrong password give the same
``refused`` after the same argon2 work, and throttling is keyed by the username
typed, so a response never tells whether an account exists (ASVS 6.3.8).

The second factor is a TOTP code, a recovery code or a security key
(WebAuthn); each failure counts in the same throttling and lockout counters.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import structlog

from phigate.oauth.mfa import totp
from phigate.oauth.mfa.webauthn import KeyCheck, KeyResponse, KeyVerdict, SecurityKeys
from phigate.people.access import RolePolicy
from phigate.people.attempts import AttemptCounters, AttemptPolicy, Verdict, account_key, address_key
from phigate.people.passwords import verify
from phigate.people.sessions import Session, SessionPolicy, methods, new_session_id, session_hash
from phigate.people.store import SessionStore, UserStore
from phigate.people.users import User, normalise_username

log = structlog.get_logger("phigate.signin")


class Outcome(StrEnum):
    signed_in = "signed_in"  # no second factor needed: a session starts
    second_factor = "second_factor"  # password right; the second factor is next
    enrol = "enrol"  # password right; the role needs a second factor the user has not set up
    refused = "refused"  # wrong credentials (or no such user)
    wait = "wait"  # throttled: too many recent failures
    locked = "locked"  # too many failures: an administrator must unlock


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    user: User | None = None
    session_id: str | None = None  # the browser's session cookie, when a session started


@dataclass
class SignIn:
    users: UserStore
    sessions: SessionStore
    counters: AttemptCounters
    attempts: AttemptPolicy
    roles: RolePolicy
    session_policy: SessionPolicy
    clock: Callable[[], float] = time.time
    audit: Callable[..., None] | None = None  # the node's audit trail (security events); None: logs only
    keys: SecurityKeys | None = None  # WebAuthn; None when the issuer cannot be a relying party

    def _event(
        self, action: str, user_id: str | None, address: str, outcome: str = "ok", **rules: Any
    ) -> None:
        """A sign-in fact for the audit trail: who (user id, never the password), from where, how it ended."""
        if self.audit is not None:
            self.audit(action, user=user_id, source_ip=address, outcome=outcome, rules=rules)

    async def password(self, username: str, password: str, address: str) -> Result:
        name = normalise_username(username)
        now = self.clock()
        throttled = await self._throttled(name, address, now)
        if throttled is not None:
            return Result(throttled)
        found = await self.users.by_username(name)
        user = found if found is not None and found.active else None
        # argon2 runs off the event loop: tens of milliseconds of CPU per attempt.
        right = await asyncio.to_thread(verify, user.password_hash if user else None, password)
        if not right or user is None:
            return Result(await self._failed(name, address, now, found))
        if user.locked:
            self._event("signin.refused", user.user_id, address, "locked")
            return Result(Outcome.locked)
        if not self.roles.needs_mfa(user):
            return Result(Outcome.signed_in, user, await self._start(user, name, address, None))
        enrolled = user.totp_enrolled or bool(await self.users.security_keys(user.user_id))
        return Result(Outcome.second_factor if enrolled else Outcome.enrol, user)

    async def second_factor(self, user_id: str, code: str, address: str) -> Result:
        """A TOTP code or a recovery code for a user whose password was just proven."""
        now = self.clock()
        user = await self._proving(user_id, address, now)
        if isinstance(user, Result):
            return user
        if not await self._second_factor_right(user, code, now):
            return Result(await self._failed(user.username, address, now, user))
        return Result(Outcome.signed_in, user, await self._start(user, user.username, address, "otp"))

    async def confirm_enrolment(self, user_id: str, code: str, address: str) -> Result:
        """The first TOTP code from a newly enrolled authenticator: it proves the factor and signs in."""
        return await self.second_factor(user_id, code, address)

    async def security_key(self, user_id: str, response: KeyResponse, address: str) -> Result:
        """A WebAuthn assertion by one of the user's security keys, after the password."""
        keys = self.keys
        if keys is None:
            return Result(Outcome.refused)
        return await self._key(
            user_id, address, lambda user, now: keys.authenticate(user.user_id, response, now)
        )

    async def enrol_security_key(
        self, user_id: str, response: KeyResponse, name: str, address: str
    ) -> Result:
        """A new security key, made right after the password by a user who has no second factor yet.

        Like a first TOTP code, the new key proves the factor and signs in (``hwk``).
        A user who has a factor already cannot add one this way: that would let
        the password alone replace the second factor.
        """
        keys = self.keys

        async def register(user: User, now: float) -> KeyCheck:
            if user.totp_enrolled or await self.users.security_keys(user.user_id):
                return KeyCheck(KeyVerdict.refused, "webauthn.already_enrolled")
            return await keys.register(user, response, name, now) if keys else KeyCheck(KeyVerdict.refused)

        return await self._key(user_id, address, register)

    async def _key(
        self, user_id: str, address: str, check: Callable[[User, float], Awaitable[KeyCheck]]
    ) -> Result:
        now = self.clock()
        user = await self._proving(user_id, address, now)
        if isinstance(user, Result):
            return user
        checked = await check(user, now)
        if checked.verdict is KeyVerdict.cloned:
            # NIST SP 800-63B 5.1.7.1 / WebAuthn 6.1.1: a counter that went backwards may mean a clone.
            name = checked.key.name if checked.key else ""
            log.warning("security_key_counter_regressed", user_id=user.user_id, key=name)
            self._event("signin.key_cloned", user.user_id, address, "refused", key=name)
        if checked.verdict is not KeyVerdict.accepted:
            log.info("security_key_refused", user_id=user.user_id, reason=checked.reason)
            return Result(await self._failed(user.username, address, now, user))
        return Result(Outcome.signed_in, user, await self._start(user, user.username, address, "hwk"))

    async def _proving(self, user_id: str, address: str, now: float) -> User | Result:
        """The user about to prove a second factor, or the result that stops them trying now."""
        user = await self.users.get(user_id)
        if user is None or not user.active:
            return Result(Outcome.refused)
        throttled = await self._throttled(user.username, address, now)
        if throttled is not None:
            return Result(throttled)
        if user.locked:
            return Result(Outcome.locked)
        return user

    async def _second_factor_right(self, user: User, code: str, now: float) -> bool:
        if totp.looks_like_recovery_code(code):
            return await self.users.use_recovery_code(user.user_id, totp.recovery_hash(code))
        # A TOTP secret not confirmed yet counts only while it is the enrolment in progress: once the
        # person enrolled a security key instead, the secret shown on that enrolment page proves nothing.
        if not user.totp_enrolled and await self.users.security_keys(user.user_id):
            return False
        secret = await self.users.totp_secret(user.user_id)
        step = totp.matching_step(secret, code, now) if secret is not None else None
        return step is not None and await self.users.claim_totp_step(user.user_id, step)

    async def _throttled(self, name: str, address: str, now: float) -> Outcome | None:
        account = await self.counters.read(account_key(name))
        verdict = self.attempts.verdict(account, now)
        if verdict is Verdict.allowed:
            at_address = await self.counters.read(address_key(address))
            verdict = self.attempts.verdict(at_address, now, can_lock=False)
        if verdict is Verdict.allowed:
            return None
        count = await self._count(name, address, now)  # attempts while throttled count too
        if await self._locked_now(name, count):
            return Outcome.locked
        return Outcome.locked if verdict is Verdict.locked else Outcome.wait

    async def _failed(self, name: str, address: str, now: float, user: User | None) -> Outcome:
        count = await self._count(name, address, now)
        log.info("signin_failed", failures=count)
        # An unknown name is not recorded (it may be a mistyped password); a known user's failure is.
        self._event("signin.failed", user.user_id if user else None, address, "login", failures=count)
        return Outcome.locked if await self._locked_now(name, count, user) else Outcome.refused

    async def _locked_now(self, name: str, count: int, user: User | None = None) -> bool:
        """At ``lock_after`` failures the account also locks in the store, until an administrator unlocks."""
        if count < self.attempts.lock_after:
            return False
        user = user or await self.users.by_username(name)
        if user is not None and not user.locked:
            await self.users.set_locked(user.user_id, True)
            log.warning("account_locked", user_id=user.user_id)
            self._event("account.locked", user.user_id, "", "locked", failures=count)
        return True

    async def _count(self, name: str, address: str, now: float) -> int:
        ttl = self.attempts.memory_seconds
        await self.counters.record(address_key(address), now, ttl)
        return (await self.counters.record(account_key(name), now, ttl)).count

    async def _start(self, user: User, name: str, address: str, factor: str | None) -> str:
        await self.counters.clear(account_key(name))
        await self.counters.clear(address_key(address))  # NIST 5.2.2: a success forgives the address
        session_id = new_session_id()
        now = self.clock()
        await self.sessions.start(Session(session_hash(session_id), user.user_id, now, now, methods(factor)))
        log.info("signin_succeeded", user_id=user.user_id, amr=" ".join(methods(factor)))
        self._event("signin.succeeded", user.user_id, address, amr=" ".join(methods(factor)))
        return session_id

    async def sign_out(self, session_id: str | None) -> str | None:
        """End the browser's session; the user it was for, or ``None`` when there was no such session."""
        if not session_id or len(session_id) > 128:
            return None
        found = await self.sessions.get(session_hash(session_id))
        if found is None:
            return None
        await self.sessions.end(found.session_hash)
        log.info("signed_out", user_id=found.user_id)
        self._event("signout", found.user_id, "")
        return found.user_id

    async def session(self, session_id: str | None) -> tuple[Session, User] | None:
        """The browser's live session and its active user; touches it (idle timer) when valid."""
        if not session_id or len(session_id) > 128:
            return None
        now = self.clock()
        found = await self.sessions.get(session_hash(session_id))
        if found is None or not found.valid(now, self.session_policy):
            return None
        user = await self.users.get(found.user_id)
        if user is None or not user.active or user.locked:
            return None
        if self.roles.needs_mfa(user) and "mfa" not in found.amr:
            return None
        await self.sessions.touch(found.session_hash, now)
        return found, user
