"""What an access token grants: its scopes, client and launch context.

A token with a ``patient`` is in patient context, and then only its ``patient/``
scopes apply: access is confined to that patient's compartment. Without a
patient, ``user/`` and ``system/`` scopes apply and ``patient/`` scopes grant
nothing (SMART: a patient scope needs a patient in context).
"""

from __future__ import annotations

from dataclasses import dataclass

from phigate.policy.decisions import UNCONSTRAINED, TypeRule
from phigate.policy.scopes import ClinicalScope, Context, ScopeSet
from phigate.types import ClientId, PatientId


@dataclass(frozen=True, slots=True)
class Grant:
    scopes: ScopeSet
    client_id: ClientId
    patient: PatientId | None = None

    @property
    def context(self) -> Context:
        if self.patient is not None:
            return Context.PATIENT
        return Context.USER if self.scopes.in_context(Context.USER) else Context.SYSTEM

    @property
    def clinical(self) -> tuple[ClinicalScope, ...]:
        """The clinical scopes that apply in this grant's context."""
        if self.patient is not None:
            return self.scopes.in_context(Context.PATIENT)
        return self.scopes.in_context(Context.USER, Context.SYSTEM)

    def permits(self, permission: str, resource_type: str) -> TypeRule | None:
        """The rule under which ``permission`` is granted on ``resource_type`` (``*``: on every type)."""
        scopes = [
            scope for scope in self.clinical
            if scope.allows(permission) and scope.resource_type in ("*", resource_type)
        ]  # fmt: skip
        if not scopes:
            return None
        if any(not scope.constraints for scope in scopes):
            return TypeRule(resource_type)
        return TypeRule(resource_type, tuple(sorted({scope.constraints for scope in scopes})))

    def permits_fully(self, permission: str, resource_type: str) -> bool:
        """True when ``permission`` on ``resource_type`` is granted without a query constraint."""
        rule = self.permits(permission, resource_type)
        return rule is not None and rule.alternatives == UNCONSTRAINED

    def rules(self, permission: str) -> tuple[TypeRule, ...]:
        """One rule per applicable scope that grants ``permission`` (for responses of mixed types)."""
        return tuple(
            TypeRule(scope.resource_type, (scope.constraints,))
            for scope in self.clinical if scope.allows(permission)
        )  # fmt: skip

    def needed(self, permission: str, resource_type: str) -> str:
        """The scope that would have allowed it, e.g. ``system/Observation.s``: what a denial names."""
        return f"{self.context.value}/{resource_type}.{permission}"
