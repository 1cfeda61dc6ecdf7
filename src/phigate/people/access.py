"""What an app may be granted for a person: ``requested ∩ registered ∩ role ceiling ∩ approved``.

A patient user's apps are always in that patient's context: the access token
carries ``patient`` and the resource server confines it to the compartment, so
a patient app never reads another patient's data. For anyone else the patient
in context comes from an EHR launch (:mod:`phigate.people.launches`) or from
the patient picker of a standalone launch; without one, patient scopes would
grant nothing, so they are not offered, and ``launch/patient`` is granted only
with a patient in context (``launch/encounter`` only with an encounter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from phigate.people.roles import DEFAULT_CEILINGS, DEFAULT_MFA, Role
from phigate.people.users import User
from phigate.policy.scopes import Context, ScopeSet
from phigate.settings.people import PeopleSettings


@dataclass(frozen=True)
class RolePolicy:
    ceilings: Mapping[Role, ScopeSet]
    mfa: Mapping[Role, bool]

    @classmethod
    def from_settings(cls, settings: PeopleSettings) -> RolePolicy:
        ceilings, mfa = {}, {}
        for role in Role:
            override = settings.roles.get(role.value)
            text = override.scopes if override is not None and override.scopes is not None else None
            ceilings[role] = ScopeSet.parse(text if text is not None else DEFAULT_CEILINGS[role])
            wanted = override.mfa if override is not None else None
            mfa[role] = DEFAULT_MFA[role] if wanted is None else wanted
        return cls(ceilings, mfa)

    def needs_mfa(self, user: User) -> bool:
        return self.mfa[user.role] or user.totp_enrolled


@dataclass(frozen=True)
class Offer:
    """What the consent page offers: the scopes that may be granted, and the patient in context."""

    scopes: ScopeSet
    patient: str | None
    encounter: str | None = None
    patient_wanted: bool = False  # launch/patient may be granted but no patient is in context: pick one first


def offer(
    requested: ScopeSet, registered: ScopeSet, user: User, policy: RolePolicy, patient: str | None = None,
    encounter: str | None = None,
) -> Offer:  # fmt: skip
    """``patient``: in context from an EHR launch or the picker (a patient user is always their own)."""
    possible = requested.within(registered).within(policy.ceilings[user.role])
    patient = user.patient_id or patient
    wanted = patient is None and "launch/patient" in possible.named
    if patient is None:
        # No patient in context: patient/ scopes and launch/patient would grant nothing or mislead.
        clinical = frozenset(s for s in possible.clinical if s.context is not Context.PATIENT)
        possible = ScopeSet(clinical, possible.named - {"launch/patient"})
    if encounter is None:
        possible = ScopeSet(possible.clinical, possible.named - {"launch/encounter"})
    return Offer(possible, patient, encounter, wanted)


def approve(offered: Offer, approved: ScopeSet) -> ScopeSet:
    """The offer narrowed to what the person ticked; nothing they did not see is ever added."""
    return approved.within(offered.scopes)

