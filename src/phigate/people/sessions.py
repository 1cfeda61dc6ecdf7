"""Sign-in sessions: what was proven, when, and whether it still holds (NIST SP 800-63B 4.2.3).

A session ends after ``idle_seconds`` without use or ``absolute_seconds`` after
sign-in, whichever comes first (AAL2: 30 minutes idle, 12 hours), and at once
when its user is disabled or it is ended. The browser holds a random 256-bit
session id; the store keeps only its SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class SessionPolicy:
    idle_seconds: float = 1800.0
    absolute_seconds: float = 43200.0


@dataclass(frozen=True)
class Session:
    session_hash: str
    user_id: str
    auth_time: float  # when the person proved who they are (epoch seconds): the id_token's auth_time
    last_seen: float
    amr: tuple[str, ...]  # RFC 8176 methods: pwd, otp, hwk, mfa
    ended: bool = False

    @property
    def acr(self) -> str:
        """The assurance reached: AAL2 with a second factor, AAL1 with a password alone."""
        return "urn:phigate:aal2" if "mfa" in self.amr else "urn:phigate:aal1"

    def valid(self, now: float, policy: SessionPolicy) -> bool:
        return (
            not self.ended
            and now - self.last_seen < policy.idle_seconds
            and now - self.auth_time < policy.absolute_seconds
        )


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def methods(second_factor: str | None) -> tuple[str, ...]:
    """``amr`` for a password sign-in, with ``otp`` or ``hwk`` (and ``mfa``) after a second factor."""
    return ("pwd",) if second_factor is None else ("pwd", second_factor, "mfa")
