"""The gateway as an OAuth resource server: from a presented token to an ``Identity``, or a 401.

Order of checks, cheapest first: where the token came from (never the URL), its
size and shape, whose it is (our issuer, or a configured external one), the
signature with a key pinned to its algorithm, the claims (iss, aud exactly one
of our FHIR bases, exp, nbf, iat), revocation (local set kept in sync across
nodes), the client (registered, active), the sender constraint (DPoP proof or
client certificate matching ``cnf``). Every failure is the same 401
``invalid_token`` to the caller; the reason goes to the log.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import structlog

from phigate.errors import AuthenticationRequired
from phigate.exchange import Identity
from phigate.oauth.external import ExternalIssuer
from phigate.oauth.jose import TokenError, parse_unverified
from phigate.oauth.rfc6750 import PresentedToken
from phigate.oauth.rfc9068 import AccessTokens
from phigate.oauth.rfc9449 import verify_dpop_proof
from phigate.oauth.server import DPOP_PROOF_MAX_AGE
from phigate.policy.grants import Grant
from phigate.policy.scopes import InvalidScope, ScopeSet
from phigate.ports import ReplayCache, RevocationList
from phigate.settings import ExternalIssuerSettings
from phigate.types import ClientId, PatientId
from phigate.vendors.clients import ClientRegistry, ClientStatus, OAuthClient

log = structlog.get_logger("phigate.oauth")


class InvalidToken(AuthenticationRequired):
    message = "The access token is not valid."
    headers = (("www-authenticate", 'Bearer realm="phigate", error="invalid_token"'),)


@dataclass(frozen=True)
class RequestFacts:
    method: str
    url: str  # the public URL the caller used: the issuer's origin plus the path
    dpop_proof: str | None
    client_cert_thumbprint: str | None


class CachedClients:
    """Registry reads on the hot path, cached briefly: a disabled client stops within ``ttl`` seconds."""

    def __init__(
        self, registry: ClientRegistry, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic
    ):
        self.registry = registry
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[str, tuple[float, OAuthClient | None]] = {}

    async def get(self, client_id: str) -> OAuthClient | None:
        now = self.clock()
        hit = self._cache.get(client_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        client = await self.registry.get(ClientId(client_id)) if len(client_id) <= 128 else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[client_id] = (now, client)
        return client


@lru_cache(maxsize=1024)
def _scopes(text: str) -> ScopeSet:
    return ScopeSet.parse(text)


@dataclass(frozen=True)
class ResourceServer:
    tokens: AccessTokens
    audiences: frozenset[str]
    external: Sequence[ExternalIssuer]
    revocations: RevocationList
    replay: ReplayCache
    clients: CachedClients
    clock: Callable[[], float] = time.time

    async def authenticate(self, presented: PresentedToken, facts: RequestFacts) -> Identity:
        now = self.clock()
        try:
            claims, issuer = await self._verified(presented.token, now)
            if self.revocations.is_revoked(str(claims["jti"])):
                raise TokenError("token.revoked")
            client = await self._client(claims, issuer)
            await self._check_binding(presented, claims, client, facts, now)
            grant = Grant(_scopes(str(claims.get("scope", ""))), client.client_id, _patient(claims))
        except (TokenError, InvalidScope) as error:
            log.info("token_refused", reason=getattr(error, "reason", "token.scope"))
            raise InvalidToken() from None
        subject = claims.get("sub")
        return Identity(
            grant,
            client.vendor_id,
            str(claims["jti"]),
            issuer,
            int(claims["exp"]),
            person=subject if isinstance(subject, str) and subject != client.client_id else None,
            fhir_user=_text(claims.get("fhirUser")),
            acr=_text(claims.get("acr")),
            break_glass=_text(claims.get("break_glass")) if issuer == self.tokens.issuer else None,
        )

    async def _verified(self, token: str, now: float) -> tuple[dict[str, Any], str]:
        issuer = parse_unverified(token, max_bytes=self.tokens.settings.max_token_bytes).claims.get("iss")
        if issuer == self.tokens.issuer:
            return self.tokens.verify(token, self.audiences, now), self.tokens.issuer
        for external in self.external:
            if issuer == external.settings.issuer:
                claims = await external.verify(token, now)
                return _mapped(claims, external.settings, token), external.settings.issuer
        raise TokenError("token.issuer_unknown")

    async def _client(self, claims: Mapping[str, Any], issuer: str) -> OAuthClient:
        client_id = claims.get("client_id")
        client = await self.clients.get(client_id) if isinstance(client_id, str) else None
        if client is None or client.status is not ClientStatus.active:
            raise TokenError("token.client_unknown_or_disabled")
        return client

    async def _check_binding(
        self,
        presented: PresentedToken,
        claims: Mapping[str, Any],
        client: OAuthClient,
        facts: RequestFacts,
        now: float,
    ) -> None:
        cnf = claims.get("cnf") or {}
        if not isinstance(cnf, dict):
            raise TokenError("token.cnf")
        if "jkt" in cnf:
            if presented.scheme != "dpop" or facts.dpop_proof is None:
                raise TokenError("dpop.scheme_or_proof_missing")
            jkt = await verify_dpop_proof(
                facts.dpop_proof,
                method=facts.method,
                url=facts.url,
                access_token=presented.token,
                now=now,
                replay=self.replay.first_use,
                max_age=DPOP_PROOF_MAX_AGE,
            )
            if jkt != cnf["jkt"]:
                raise TokenError("dpop.key_mismatch")
        elif presented.scheme == "dpop":
            raise TokenError("dpop.unbound_token")
        if "x5t#S256" in cnf and cnf["x5t#S256"] != facts.client_cert_thumbprint:
            raise TokenError("mtls.certificate_mismatch")
        if client.token_binding.value != "none" and not ({"jkt", "x5t#S256"} & cnf.keys()):
            raise TokenError("token.binding_required")


def _mapped(claims: Mapping[str, Any], settings: ExternalIssuerSettings, token: str) -> dict[str, Any]:
    """An external provider's claims in phigate's terms: which client, which scopes, which token id.

    The calling client is ``client_claim`` mapped through ``clients`` (when a map is
    configured, an unmapped client is refused); scopes come from ``scope_claim`` as a
    space-separated string or a list (``scp``); a token without ``jti`` is known by a
    hash of itself, so it can still be revoked.
    """
    external_client = claims.get(settings.client_claim)
    client_id = settings.clients.get(external_client, None if settings.clients else external_client) \
        if isinstance(external_client, str) else None  # fmt: skip
    scope = claims.get(settings.scope_claim, "")
    if isinstance(scope, list) and all(isinstance(item, str) for item in scope):
        scope = " ".join(scope)
    if not isinstance(scope, str) or client_id is None:
        raise TokenError("external.claims")
    jti = claims.get("jti")
    token_id = jti if isinstance(jti, str) and jti else "sha256:" + hashlib.sha256(token.encode()).hexdigest()
    return {**claims, "client_id": client_id, "scope": scope, "jti": token_id, "cnf": claims.get("cnf")}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _patient(claims: Mapping[str, Any]) -> PatientId | None:
    patient = claims.get("patient")
    return PatientId(patient) if isinstance(patient, str) and patient else None
