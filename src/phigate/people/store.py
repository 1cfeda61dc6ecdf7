"""The durable record of users, their second factors and sessions, shared by every gateway node.

One implementation: :class:`phigate.adapters.sql.people.SqlPeople` (SQLite or
PostgreSQL). Every single-use step (a TOTP time step, a recovery code, a
security key's signature counter) is one conditional update, so two nodes
never both accept the same code or assertion.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Protocol

from phigate.people.security_keys import SecurityKey
from phigate.people.sessions import Session
from phigate.people.users import User, UserStatus


class UserStore(Protocol):
    async def add(self, user: User) -> None:
        """Store a new user; raises UserError when the username or id is taken."""
        ...

    async def get(self, user_id: str) -> User | None: ...

    async def by_username(self, username: str) -> User | None: ...

    async def list(self) -> builtins.list[User]:
        """Users ordered by username."""
        ...

    async def set_status(self, user_id: str, status: UserStatus) -> User:
        """Raises UnknownUser. Disabling also ends every session of the user."""
        ...

    async def set_locked(self, user_id: str, locked: bool) -> User: ...

    async def set_password(self, user_id: str, password_hash: str) -> User: ...

    async def set_totp(self, user_id: str, secret: str | None, recovery_hashes: tuple[str, ...]) -> User:
        """Enrol (``secret``) or remove (``None``) the TOTP factor; recovery codes replace the old ones."""
        ...

    async def confirm_totp(self, user_id: str) -> User:
        """The enrolled authenticator produced a valid code: the factor is in use from now on."""
        ...

    async def totp_secret(self, user_id: str) -> str | None:
        """The decrypted TOTP secret, for the MFA check only; never logged, never shown again."""
        ...

    async def claim_totp_step(self, user_id: str, step: int) -> bool:
        """True once per user for a time step later than every step accepted before (RFC 6238 5.2)."""
        ...

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        """True for exactly one use of an unused recovery code."""
        ...

    async def add_security_key(self, key: SecurityKey) -> bool:
        """Store a newly registered WebAuthn credential; False when its id is taken (by anyone)."""
        ...

    async def security_keys(self, user_id: str) -> builtins.list[SecurityKey]:
        """The user's WebAuthn credentials, oldest first (none: an empty list)."""
        ...

    async def security_key(self, user_id: str, credential_id: str) -> SecurityKey | None:
        """The credential with this id if it is this user's; ``None`` if unknown or another's."""
        ...

    async def claim_sign_count(
        self, user_id: str, credential_id: str, sign_count: int, used_at: datetime
    ) -> bool:
        """Record a verified assertion's counter; True once per counter value that moved forward.

        The counter must exceed the stored one, or both be zero (an authenticator
        without a counter); the check and the write are one atomic step across
        nodes. False means a counter at or below one seen before: a replay or a
        cloned authenticator. ``used_at`` becomes the credential's last use.
        """
        ...

    async def remove_security_keys(self, user_id: str) -> int:
        """Remove every WebAuthn credential of the user (``reset-mfa``); how many there were."""
        ...


class SessionStore(Protocol):
    async def start(self, session: Session) -> None: ...

    async def get(self, session_hash: str) -> Session | None: ...

    async def touch(self, session_hash: str, now: float) -> None: ...

    async def end(self, session_hash: str) -> None: ...

    async def end_all(self, user_id: str) -> int:
        """End every session of the user; returns how many were open."""
        ...
