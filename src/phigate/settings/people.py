"""``people:``: sign-in, MFA, sessions and app launch for people (issue 4).

Defaults follow NIST SP 800-63B AAL2 (sessions: 30 minutes idle, 12 hours in
all; at most 100 consecutive failed attempts) and RFC 9700 (codes live at most
10 minutes, refresh tokens rotate and have an absolute lifetime).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

KNOWN_ROLES = frozenset({"clinician", "patient", "admin", "security_officer", "privacy_officer", "auditor"})


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RoleSettings(_Model):
    """One role's overrides: its scope ceiling (SMART scopes) and whether it needs a second factor."""

    scopes: str | None = None
    mfa: bool | None = None


class BreakGlassSettings(_Model):
    """Emergency access (HIPAA 164.312(a)(2)(ii)): who may break the glass, for what, for how long.

    The scopes are granted beyond the role's ceiling (still within what the app
    registered and asked for); the token lives ``token_seconds`` and has no
    refresh token: a second emergency means breaking the glass again.
    """

    enabled: bool = True
    roles: tuple[str, ...] = ("clinician",)
    scopes: str = "user/*.rs"
    token_seconds: Annotated[int, Field(ge=30, le=900)] = 120
    min_reason: Annotated[int, Field(ge=1, le=200)] = 15  # characters: a reason, not "x"

    @model_validator(mode="after")
    def _known_roles(self) -> BreakGlassSettings:
        unknown = sorted(set(self.roles) - KNOWN_ROLES)
        if unknown:
            raise ValueError(f"unknown role(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_ROLES))}")
        return self


class WebAuthnSettings(_Model):
    """Security keys and platform authenticators (WebAuthn) as a second factor, beside TOTP.

    The relying party is the issuer: its host is the RP ID and its origin the
    only accepted origin. Browsers refuse an IP address as RP ID, so with an
    issuer such as ``https://127.0.0.1:8443`` security keys are not offered.
    """

    enabled: bool = True
    rp_name: Annotated[str, Field(min_length=1, max_length=64)] = "phigate"  # shown by the browser's prompt
    ceremony_seconds: Annotated[int, Field(ge=30, le=600)] = 300  # one challenge, from the page to the key


class PeopleSettings(_Model):
    enabled: bool = True
    roles: dict[str, RoleSettings] = Field(default_factory=dict)  # keyed by role name (clinician, ...)
    code_seconds: Annotated[int, Field(ge=10, le=600)] = 60  # ASVS 10.4.3: at most 10 minutes
    refresh_seconds: Annotated[int, Field(ge=300, le=90 * 86400)] = 86400  # absolute, from the first grant
    session_idle_seconds: Annotated[int, Field(ge=60, le=86400)] = 1800
    session_absolute_seconds: Annotated[int, Field(ge=300, le=86400)] = 43200
    flow_seconds: Annotated[int, Field(ge=60, le=1800)] = 600  # one sign-in page to the next
    launch_seconds: Annotated[int, Field(ge=30, le=3600)] = 600  # an EHR launch, until the app's code
    backoff_after: Annotated[int, Field(ge=1, le=99)] = 5
    lock_after: Annotated[int, Field(ge=2, le=100)] = 100  # NIST SP 800-63B 5.2.2: no more than 100
    address_backoff_after: Annotated[int, Field(ge=1, le=1000)] = 20
    max_backoff_seconds: Annotated[float, Field(gt=0, le=86400)] = 3600.0
    totp_issuer: str = "phigate"
    break_glass: BreakGlassSettings = Field(default_factory=BreakGlassSettings)
    webauthn: WebAuthnSettings = Field(default_factory=WebAuthnSettings)

    @model_validator(mode="after")
    def _known_roles(self) -> PeopleSettings:
        unknown = sorted(set(self.roles) - KNOWN_ROLES)
        if unknown:
            raise ValueError(f"unknown role(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_ROLES))}")
        if self.backoff_after >= self.lock_after:
            raise ValueError("backoff_after must be below lock_after")
        return self
