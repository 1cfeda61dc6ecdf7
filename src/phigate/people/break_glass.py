"""Emergency access ("break-glass", HIPAA 164.312(a)(2)(ii)): more than the role allows, stated and reviewed.

A person whose role may break the glass states a reason; the app then gets
``requested ∩ registered ∩ (role ceiling + emergency scopes)`` for one short
token without refresh. Each use is a :class:`BreakGlass` record: it is named in
the token (claim ``break_glass``) and so in every audit event of the token's
requests, raises an alert at once, and stays ``open`` in the review queue until
a security officer closes it with a note. The reason may name a patient: the
store keeps it sealed, and it never enters a token, a log or an alert.
"""

from __future__ import annotations

import builtins
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from phigate.people.access import Offer, RolePolicy, offer
from phigate.people.errors import UserError
from phigate.people.roles import Role
from phigate.people.users import User
from phigate.policy.scopes import ScopeSet
from phigate.settings.people import BreakGlassSettings

CLAIM = "break_glass"  # the access token claim naming the record
MAX_REASON = 1000
MAX_NOTE = 1000
REFRESH_SCOPES = frozenset({"offline_access", "online_access"})


class ReviewStatus(StrEnum):
    open = "open"
    closed = "closed"


@dataclass(frozen=True)
class BreakGlass:
    record_id: str
    user_id: str
    client_id: str
    scope: str  # what was granted, canonical
    reason: str
    started_at: float
    expires_at: float  # when the one token it allowed expires
    status: ReviewStatus = ReviewStatus.open
    closed_by: str | None = None  # the security officer's user id
    closed_at: float | None = None
    note: str | None = None


class BreakGlassStore(Protocol):
    async def add(self, record: BreakGlass) -> None: ...

    async def get(self, record_id: str) -> BreakGlass | None: ...

    async def list(self, *, open_only: bool = True) -> builtins.list[BreakGlass]:
        """Records by start time, oldest first."""
        ...

    async def close(self, record_id: str, officer_id: str, note: str, now: float) -> BreakGlass | None:
        """Close an open record; ``None`` when it is unknown or already closed."""
        ...


@dataclass(frozen=True)
class EmergencyPolicy:
    enabled: bool
    roles: frozenset[Role]
    scopes: ScopeSet
    token_seconds: int
    min_reason: int

    @classmethod
    def from_settings(cls, settings: BreakGlassSettings) -> EmergencyPolicy:
        roles = frozenset(Role(role) for role in settings.roles)
        return cls(settings.enabled, roles, ScopeSet.parse(settings.scopes), settings.token_seconds,
                   settings.min_reason)  # fmt: skip

    def may(self, user: User) -> bool:
        return self.enabled and user.active and user.role in self.roles

    def reason(self, text: str) -> str:
        """The stated reason, trimmed; :class:`UserError` when too short or too long."""
        reason = " ".join(text.split())
        if not self.min_reason <= len(reason) <= MAX_REASON:
            raise UserError("reason", f"state the emergency in {self.min_reason} to {MAX_REASON} characters")
        return reason

    def offer(
        self, requested: ScopeSet, registered: ScopeSet, user: User, roles: RolePolicy,
        patient: str | None = None, encounter: str | None = None,
    ) -> Offer:  # fmt: skip
        """What breaking the glass grants: the role's ceiling widened by the emergency scopes, no refresh."""
        ceiling = roles.ceilings[user.role]
        widened = RolePolicy({**roles.ceilings, user.role: _union(ceiling, self.scopes)}, roles.mfa)
        offered = offer(requested, registered, user, widened, patient, encounter)
        named = offered.scopes.named - REFRESH_SCOPES
        return Offer(ScopeSet(offered.scopes.clinical, named), offered.patient, offered.encounter)


def check_reviewer(user: User | None) -> User:
    """Only an active security officer closes a review (separation of duties: never the one who broke it)."""
    if user is None or not user.active or user.role is not Role.security_officer:
        raise UserError("officer", "only an active security officer closes emergency access reviews")
    return user


def check_note(note: str) -> str:
    text = note.strip()
    if not 1 <= len(text) <= MAX_NOTE:
        raise UserError("note", f"give 1 to {MAX_NOTE} characters")
    return text


def new_record_id() -> str:
    return "bg-" + secrets.token_hex(12)


def _union(a: ScopeSet, b: ScopeSet) -> ScopeSet:
    return ScopeSet(a.clinical | b.clinical, a.named | b.named)
