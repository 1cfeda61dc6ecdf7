"""phigate's authorisation server for third parties: SMART Backend Services.

``client_credentials`` with ``private_key_jwt`` (RFC 6749 4.4, RFC 7523),
introspection (RFC 7662) and revocation (RFC 7009) for authenticated clients,
access tokens per RFC 9068, sender-constrained by DPoP (RFC 9449) or a client
certificate (RFC 8705) where the client is registered so or asks for it.
Framework-free: the ASGI edge hands in the form and the transport facts.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from phigate.oauth.endpoints import Endpoints
from phigate.oauth.jose import TokenError
from phigate.oauth.rfc6749.errors import (
    InvalidDpopProof,
    InvalidRequest,
    InvalidScope,
    OAuthError,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from phigate.oauth.rfc7523 import AssertionAuthenticator
from phigate.oauth.rfc9068 import AccessTokens, Confirmation
from phigate.oauth.rfc9449 import verify_dpop_proof
from phigate.oauth.smart.launch import PERSON_GRANTS, LaunchTokens
from phigate.policy.scopes import Context, ScopeSet
from phigate.policy.scopes import InvalidScope as MalformedScope
from phigate.ports import ReplayCache, RevocationList
from phigate.types import VendorId
from phigate.vendors.clients import OAuthClient, TokenBinding

log = structlog.get_logger("phigate.oauth")
DPOP_PROOF_MAX_AGE = 60.0  # seconds a DPoP proof stays fresh (RFC 9449 11.1: short)


@dataclass(frozen=True)
class TransportFacts:
    """What the listener knows about the caller beyond the form: DPoP header, client certificate."""

    dpop_proof: str | None = None
    client_cert_thumbprint: str | None = None  # x5t#S256 of the TLS client certificate, when one was sent
    method: str = "POST"
    url: str = ""
    client_ip: str = ""  # for the audit trail


@dataclass(frozen=True)
class AuthorizationServer:
    endpoints: Endpoints
    authenticator: AssertionAuthenticator
    tokens: AccessTokens
    replay: ReplayCache
    revocations: RevocationList
    clock: Callable[[], float] = time.time
    # The audit trail's hook (issue 8): called with ("token.issued" | "token.refused", safe fields).
    on_token: Callable[[str, dict[str, Any]], None] | None = None
    # The posture gate's hook (issue 9): why the client's vendor may get no token now, or None.
    vendor_refusal: Callable[[VendorId], Awaitable[str | None]] | None = None
    # Apps acting for people (issue 4): authorization_code and refresh_token grants.
    launch: LaunchTokens | None = None

    async def token(self, form: Mapping[str, str], transport: TransportFacts) -> dict[str, Any]:
        try:
            reply = await self._token(form, transport)
        except OAuthError as error:
            if self.on_token is not None:
                claimed = (form.get("client_id") or "")[:128] or None
                fields = {"client_id": claimed, "source_ip": transport.client_ip, "reason": error.error}
                self.on_token("token.refused", fields | {"status": error.status, "outcome": error.error})
            raise
        return reply

    async def _token(self, form: Mapping[str, str], transport: TransportFacts) -> dict[str, Any]:
        if self.launch is not None and form.get("grant_type") in PERSON_GRANTS:
            return await self._person_token(form, transport)
        if form.get("grant_type") != "client_credentials":
            raise UnsupportedGrantType()
        now = self.clock()
        client = await self.authenticator.authenticate(form, self.endpoints.token, now)
        if self.vendor_refusal is not None and (refusal := await self.vendor_refusal(client.vendor_id)):
            raise UnauthorizedClient(refusal)
        granted = self._granted(form.get("scope"), client)
        audience = self._audience(form.get("resource"))
        confirmation = await self._confirmation(client, transport, now)
        token, claims = self.tokens.issue(
            client.client_id, granted.to_string(), audience, int(now), confirmation
        )
        log.info("token_issued", client_id=client.client_id, jti=claims["jti"], scope=claims["scope"])
        if self.on_token is not None:
            rules = {"token_id": claims["jti"], "scope": claims["scope"]}
            fields = {"client_id": client.client_id, "vendor_id": client.vendor_id, "rules": rules}
            self.on_token("token.issued", fields | {"source_ip": transport.client_ip, "status": 200})
        return {
            "access_token": token,
            "token_type": "DPoP" if confirmation is not None and confirmation.jkt else "Bearer",
            "expires_in": claims["exp"] - claims["iat"],
            "scope": claims["scope"],
        }

    async def _person_token(self, form: Mapping[str, str], transport: TransportFacts) -> dict[str, Any]:
        assert self.launch is not None
        now = self.clock()
        client = await self.launch.client(form, now)
        if self.vendor_refusal is not None and (refusal := await self.vendor_refusal(client.vendor_id)):
            raise UnauthorizedClient(refusal)
        reply = await self.launch.token(form, client, now)
        if self.on_token is not None:
            rules = {"scope": reply["scope"], "grant_type": form.get("grant_type")}
            fields = {"client_id": client.client_id, "vendor_id": client.vendor_id, "rules": rules}
            self.on_token("token.issued", fields | {"source_ip": transport.client_ip, "status": 200})
        return reply

    async def introspect(self, form: Mapping[str, str]) -> dict[str, Any]:
        """RFC 7662: an authenticated client learns about its own tokens only; anything else is inactive."""
        now = self.clock()
        client = await self.authenticator.authenticate(form, self.endpoints.introspection, now)
        claims = self._own_token(form, client, now)
        if claims is None:
            return {"active": False}
        keep = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "cnf")
        return {"active": True, "token_type": "DPoP" if "jkt" in claims.get("cnf", {}) else "Bearer"} | {
            k: claims[k] for k in keep if k in claims
        }

    async def revoke(self, form: Mapping[str, str]) -> None:
        """RFC 7009: revoke the client's own token on every node; an unknown token is not an error."""
        now = self.clock()
        client = await self.authenticator.authenticate(form, self.endpoints.revocation, now)
        claims = self._own_token(form, client, now)
        if claims is not None:
            await self.revocations.revoke(str(claims["jti"]), float(claims["exp"]))
            log.info("token_revoked", client_id=client.client_id, jti=claims["jti"])
            if self.on_token is not None:
                fields = {"client_id": client.client_id, "vendor_id": client.vendor_id, "status": 200}
                self.on_token("token.revoked", fields | {"rules": {"token_id": claims["jti"]}})

    def _own_token(self, form: Mapping[str, str], client: OAuthClient, now: float) -> dict[str, Any] | None:
        token = form.get("token")
        if not token:
            raise InvalidRequest("The token parameter is required.")
        try:
            claims = self.tokens.verify(token, frozenset(self.endpoints.fhir_bases), now)
        except TokenError:
            return None
        if claims.get("client_id") != client.client_id or self.revocations.is_revoked(str(claims["jti"])):
            return None
        return claims

    def _granted(self, scope: str | None, client: OAuthClient) -> ScopeSet:
        if not scope:
            raise InvalidScope("The scope parameter is required (for example system/Observation.rs).")
        try:
            requested = ScopeSet.parse(scope)
        except MalformedScope as error:
            raise InvalidScope(error.message) from None
        if requested.named or requested.in_context(Context.PATIENT, Context.USER):
            raise InvalidScope(
                "client_credentials grants only system/ scopes (no user, patient or launch scopes)."
            )
        granted = requested.within(ScopeSet.parse(client.scopes))
        if not granted:
            raise InvalidScope()
        return granted

    def _audience(self, resource: str | None) -> str:
        if resource is None:
            return self.endpoints.fhir_bases[0]
        if resource not in self.endpoints.fhir_bases:
            raise InvalidRequest("The resource parameter names no FHIR base of this gateway.")
        return resource

    async def _confirmation(
        self, client: OAuthClient, transport: TransportFacts, now: float
    ) -> Confirmation | None:
        if client.token_binding is TokenBinding.mtls:
            thumbprint = transport.client_cert_thumbprint
            if thumbprint is None or thumbprint != client.mtls_thumbprint:
                raise UnauthorizedClient("This client must present its registered TLS client certificate.")
            return Confirmation(x5t_s256=thumbprint)
        if transport.dpop_proof is None:
            if client.token_binding is TokenBinding.dpop:
                raise InvalidDpopProof("This client must send a DPoP proof (RFC 9449).")
            return None
        try:
            jkt = await verify_dpop_proof(
                transport.dpop_proof,
                method=transport.method,
                url=transport.url,
                access_token=None,
                now=now,
                replay=self.replay.first_use,
                max_age=DPOP_PROOF_MAX_AGE,
            )
        except TokenError as error:
            log.info("dpop_proof_refused", client_id=client.client_id, reason=error.reason)
            raise InvalidDpopProof() from None
        return Confirmation(jkt=jkt)
