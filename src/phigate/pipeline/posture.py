"""Stage: posture. The caller's vendor must be in good standing (issue 9), checked on every request.

Runs after authenticate (it needs ``ex.identity.vendor_id``) and before any
cheaper-to-skip work. In order:

1. suspended or expired vendor: 403 with the reasons ("SOC 2 report period
   ended 2026-03-31; access suspended"), nothing else;
2. a token issued before the vendor's tokens were revoked (an incident or a
   suspension): 401 ``invalid_token``, as for any revoked token, even once the
   vendor is reinstated;
3. conditional standing: ``read_only`` refuses every request that could change
   state; ``deidentified_only`` refuses identifiable data, which is every FHIR
   response until a de-identification profile exists for the vendor (issue 7);
4. the token's scopes are narrowed to the client's *current* registered scopes,
   so a scope revoked by an access review is denied on tokens already issued.

Each request that passes is counted for access reviews (:class:`UsageMeter`).
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from phigate.errors import Forbidden
from phigate.exchange import Exchange, Identity
from phigate.oauth.resource import InvalidToken
from phigate.policy.scopes import ScopeSet
from phigate.vendors.gate import PostureGate, VendorRefused, refusal_message
from phigate.vendors.posture import Effect, Posture
from phigate.vendors.usage import UsageMeter


class PostureStage:
    def __init__(self, gate: PostureGate, token_seconds: int, usage: UsageMeter | None = None) -> None:
        self.gate = gate
        self.token_seconds = token_seconds
        self.usage = usage

    async def __call__(self, ex: Exchange) -> None:
        identity = ex.identity
        if identity is None:  # a public interaction (the CapabilityStatement): no vendor to check
            return
        posture, dossier = await self.gate.posture(identity.vendor_id)
        ex.facts["vendor_standing"] = posture.standing.value
        if posture.refuses_all:
            ex.facts["posture_reasons"] = list(posture.reasons)
            raise VendorRefused(refusal_message(posture))
        revoked = dossier.tokens_revoked_before
        if revoked is not None and identity.expires_at - self.token_seconds <= revoked.timestamp():
            ex.facts["revoked_by"] = "vendor"
            raise InvalidToken()
        self._check_restrictions(ex, posture)
        ceiling = dossier.client_scopes.get(identity.grant.client_id)
        if ceiling is not None:
            ex.identity = _narrowed(identity, ceiling)
        if self.usage is not None and ex.fhir is not None:
            self.usage.count(identity.grant.client_id, ex.fhir.resource_type, ex.fhir.interaction.value)

    def _check_restrictions(self, ex: Exchange, posture: Posture) -> None:
        restrictions = posture.restrictions
        if not restrictions:
            return
        ex.facts["posture_restrictions"] = sorted(r.value for r in restrictions)
        reasons = "; ".join(f.reason for f in posture.factors if not f.passed and f.effect in restrictions)
        if Effect.deidentified_only in restrictions:
            raise Forbidden(f"{reasons}. This gateway has no de-identified view for this vendor yet.")
        if Effect.read_only in restrictions and (ex.fhir is None or not ex.fhir.is_read_only):
            raise Forbidden(f"{reasons}.")


def _narrowed(identity: Identity, ceiling: str) -> Identity:
    current = _within(identity.grant.scopes, ceiling)
    if current == identity.grant.scopes:
        return identity
    return replace(identity, grant=replace(identity.grant, scopes=current))


@lru_cache(maxsize=4096)
def _within(granted: ScopeSet, ceiling: str) -> ScopeSet:
    return granted.within(ScopeSet.parse(ceiling))
