"""What apps are granted for people (codes, refresh tokens), and the port that stores it (RFC 6749).

Codes and refresh tokens are opaque random values (256 bits); only their
SHA-256 is stored. Both are single-use: :meth:`GrantStore.redeem_code` and
:meth:`GrantStore.rotate_refresh` mark the row used in the same conditional
update that reads it, so two nodes never both redeem one value. A second use
is reported (``first=False``) so the caller can revoke what the first use
issued (RFC 6749 4.1.2, RFC 9700 4.14.2).
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
from dataclasses import asdict, dataclass
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Approval:
    """What a person approved for an app: it travels from the code to every refresh of the family."""

    client_id: str
    user_id: str
    scope: str  # the granted scopes, canonical
    redirect_uri: str
    audience: str  # the FHIR base the tokens are for
    auth_time: int
    amr: tuple[str, ...]
    acr: str
    patient: str | None = None
    encounter: str | None = None  # from an EHR launch
    fhir_user: str | None = None
    nonce: str | None = None
    break_glass: str | None = None  # the emergency access record this grant was made under

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Approval:
        return cls(**{**value, "amr": tuple(value.get("amr", ()))})


@dataclass(frozen=True)
class CodeGrant:
    code_hash: str
    approval: Approval
    code_challenge: str
    expires_at: float


@dataclass(frozen=True)
class RefreshGrant:
    token_hash: str
    family_id: str
    approval: Approval
    family_started_at: float  # the absolute lifetime counts from here, whatever the rotations
    expires_at: float


@dataclass(frozen=True)
class Issued:
    """An access token issued from a code or a refresh token: what to revoke when that is replayed."""

    jti: str
    expires_at: float


@dataclass(frozen=True)
class Redemption(Generic[T]):
    grant: T
    first: bool  # False: the value was used before (a replay)


class GrantStore(Protocol):
    async def save_code(self, grant: CodeGrant) -> None: ...

    async def redeem_code(self, code_hash: str) -> Redemption[CodeGrant] | None:
        """The code's grant, marked used; ``None`` for an unknown code. Expiry is the caller's check."""
        ...

    async def code_issued(self, code_hash: str, family_id: str | None, issued: Issued) -> None:
        """Record what the code's first redemption issued."""
        ...

    async def code_tokens(self, code_hash: str) -> tuple[str | None, builtins.list[Issued]]:
        """The refresh family and access tokens issued from a code (to revoke them on a replay)."""
        ...

    async def save_refresh(self, grant: RefreshGrant, issued: Issued) -> None: ...

    async def rotate_refresh(self, token_hash: str) -> Redemption[RefreshGrant] | None:
        """The refresh token's grant, marked used; ``None`` for an unknown or revoked token."""
        ...

    async def revoke_family(self, family_id: str) -> builtins.list[Issued]:
        """Revoke every refresh token of the family; the access tokens they issued, to revoke too."""
        ...

    async def revoke_user(self, user_id: str) -> builtins.list[Issued]:
        """Revoke every refresh family of a user (disabled, or signed out everywhere)."""
        ...


def new_secret() -> tuple[str, str]:
    """A fresh opaque value (256 bits from the CSPRNG, ASVS 7.2.3) and the hash that is stored."""
    value = secrets.token_urlsafe(32)
    return value, hashed(value)


def hashed(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()
