"""Stage: posture. The caller's vendor must be in good standing (issue 9), checked on every request.

Runs after authenticate (it needs ``ex.identity.vendor_id``) and before any
cheaper-to-skip work. In order:

1. suspended or expired vendor: 403 with the reasons ("SOC 2 report period
   ended 2026-03-31; access suspended"), nothing else;
2. a token issued before the vendor's tokens were revoked (an incident or a
   suspension): 401 ``invalid_token``, as for any revoked token, even once the
   vendor is reinstated;
3. restrictions, which add up:

   - ``read_only`` refuses every request that could change state;
   - ``deidentified_only`` (no BAA) refuses writes and searches on a person's
     identifiers (name, identifier, birthdate, ...), and puts an obligation on
     the exchange: the reply is de-identified with the HIPAA safe-harbor preset,
     over whatever the data contract does (the shape-body stage meets it; a
     reply it cannot de-identify is refused, never sent);
   - ``pending_review`` (a sub-processor change awaits approval) holds each
     client to the scopes it had when the change was proposed: a scope added
     since is not granted, a client registered since gets 403 with the reason;

4. the token's scopes are narrowed to the client's *current* registered scopes,
   so a scope revoked by an access review is denied on tokens already issued.

Access reviews read each client's use from the audit trail, not from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache

from phigate.errors import Forbidden
from phigate.exchange import Exchange, Identity
from phigate.guard.media import FHIR_JSON, FHIR_XML, response_format
from phigate.oauth.resource import InvalidToken
from phigate.policy.scopes import ScopeSet
from phigate.shaping.deidentify import SAFE_HARBOR, identifying_parameters
from phigate.types import ClientId
from phigate.vendors.dossier import Dossier
from phigate.vendors.gate import PostureGate, VendorRefused, refusal_message
from phigate.vendors.posture import Effect, Posture
from phigate.vendors.subprocessors import held_scopes


class PostureStage:
    def __init__(self, gate: PostureGate, token_seconds: int) -> None:
        self.gate = gate
        self.token_seconds = token_seconds

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
        self._check_restrictions(ex, posture, dossier)
        ceiling = dossier.client_scopes.get(identity.grant.client_id)
        if ceiling is not None and ex.identity is not None:
            ex.identity = _narrowed(ex.identity, ceiling)

    def _check_restrictions(self, ex: Exchange, posture: Posture, dossier: Dossier) -> None:
        restrictions = posture.restrictions
        if not restrictions:
            return
        ex.facts["posture_restrictions"] = sorted(r.value for r in restrictions)
        reasons = "; ".join(f.reason for f in posture.factors if not f.passed and f.effect in restrictions)
        writes = ex.fhir is None or not ex.fhir.is_read_only
        if Effect.read_only in restrictions and writes:
            raise Forbidden(f"{reasons}.")
        if Effect.deidentified_only in restrictions:
            _deidentified(ex, reasons, writes)
        if Effect.pending_review in restrictions:
            _held(ex, reasons, held_scopes(dossier.subprocessors) or {})


def _deidentified(ex: Exchange, reasons: str, writes: bool) -> None:
    if writes:
        raise Forbidden(f"{reasons}. Writes are refused.")
    assert ex.fhir is not None
    identifying = identifying_parameters(ex.fhir)
    if identifying:
        raise Forbidden(f"{reasons}. A search by {', '.join(identifying)} would identify a person.")
    given = ex.fhir.named("_format")
    asked = given[0].values[0].raw if given and given[0].values else None
    if response_format(ex.header("accept"), asked) == FHIR_XML:  # the preset works on JSON
        raise Forbidden(f"{reasons}. De-identified replies are JSON only: ask for {FHIR_JSON}.")
    ex.deidentify = SAFE_HARBOR
    ex.facts["deidentified"] = SAFE_HARBOR


def _held(ex: Exchange, reasons: str, held: Mapping[ClientId, str]) -> None:
    assert ex.identity is not None
    ceiling = held.get(ex.identity.grant.client_id)
    if ceiling is None:
        raise Forbidden(f"{reasons}. A client registered since the change was proposed waits for approval.")
    ex.identity = _narrowed(ex.identity, ceiling)


def _narrowed(identity: Identity, ceiling: str) -> Identity:
    current = _within(identity.grant.scopes, ceiling)
    if current == identity.grant.scopes:
        return identity
    return replace(identity, grant=replace(identity.grant, scopes=current))


@lru_cache(maxsize=4096)
def _within(granted: ScopeSet, ceiling: str) -> ScopeSet:
    return granted.within(ScopeSet.parse(ceiling))
