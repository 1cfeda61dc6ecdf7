"""RFC 7523 JWT client authentication (``private_key_jwt``), as SMART Backend Services profiles it.

The assertion: header ``alg`` RS384 or ES384 with a ``kid`` (``jku`` only equal
to the registered JWKS URL), claims ``iss`` = ``sub`` = client_id, ``aud`` =
the endpoint being called, ``exp`` at most five minutes ahead, and a ``jti``
never seen before by any node (shared replay cache). Every failure is the same
``invalid_client`` to the caller; the internal reason goes to the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from phigate.errors import PhigateError
from phigate.oauth.endpoints import CLIENT_ASSERTION_ALGORITHMS
from phigate.oauth.jose import KeySet, TokenError, UnknownKeyError, check_claims, parse_unverified, verify_jwt
from phigate.oauth.rfc6749.errors import InvalidClient, InvalidRequest
from phigate.ports import JwksFetcher, ReplayCache
from phigate.settings import OAuthSettings
from phigate.types import ClientId
from phigate.vendors.clients import AuthMethod, ClientRegistry, ClientStatus, OAuthClient

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
log = structlog.get_logger("phigate.oauth")


class ClientKeys:
    """A client's verification keys: its static JWKS, or its registered ``jwks_uri`` fetched and cached.

    An unknown ``kid`` refreshes a fetched JWKS at most once per ``refresh_floor``
    seconds per client, so a flood of made-up kids cannot become a flood of fetches.
    """

    def __init__(
        self,
        fetcher: JwksFetcher | None,
        ttl: float = 300.0,
        refresh_floor: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fetcher = fetcher
        self.ttl = ttl
        self.refresh_floor = refresh_floor
        self.clock = clock
        self._cache: dict[tuple[ClientId, str], tuple[float, KeySet]] = {}

    async def for_client(self, client: OAuthClient, *, refresh: bool = False) -> KeySet:
        if client.jwks is not None:
            return KeySet.from_jwks(client.jwks, algorithms=CLIENT_ASSERTION_ALGORITHMS)
        if client.jwks_uri is None or self.fetcher is None:
            return KeySet()
        key = (client.client_id, client.jwks_uri)
        cached = self._cache.get(key)
        now = self.clock()
        fresh = cached is not None and now - cached[0] < self.ttl
        may_refresh = cached is None or now - cached[0] >= self.refresh_floor
        if cached is not None and ((fresh and not refresh) or not may_refresh):
            return cached[1]
        try:
            document = await self.fetcher.fetch_json(client.jwks_uri)
        except PhigateError:  # the client's JWKS URL is down or refused: its assertion cannot be checked
            raise TokenError("assertion.jwks_unavailable") from None
        keys = KeySet.from_jwks(document, algorithms=CLIENT_ASSERTION_ALGORITHMS)
        self._cache[key] = (now, keys)
        return keys


@dataclass(frozen=True)
class AssertionAuthenticator:
    clients: ClientRegistry
    keys: ClientKeys
    replay: ReplayCache
    settings: OAuthSettings

    async def authenticate(self, form: Mapping[str, str], audience: str, now: float) -> OAuthClient:
        """The client that signed ``client_assertion`` for ``audience``; :class:`InvalidClient` otherwise."""
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            raise InvalidRequest(
                "Authenticate with private_key_jwt: client_assertion_type and client_assertion."
            )
        assertion = form["client_assertion"]
        try:
            client = await self._client(assertion, form.get("client_id"))
            claims = await self._verified(assertion, client)
            check_claims(
                claims,
                issuer=client.client_id,
                audience=audience,
                now=now,
                skew=self.settings.clock_skew_seconds,
                max_future_exp=self.settings.assertion_max_seconds,
                required=("exp", "jti", "sub"),
            )
            if claims["sub"] != client.client_id or not isinstance(claims["jti"], str) or not claims["jti"]:
                raise TokenError("assertion.sub_or_jti")
            expires = float(claims["exp"]) + self.settings.clock_skew_seconds
            if not await self.replay.first_use(f"assertion:{client.client_id}:{claims['jti']}", expires):
                raise TokenError("assertion.replayed")
        except TokenError as error:
            log.info("client_authentication_failed", reason=error.reason)
            raise InvalidClient() from None
        return client

    async def _client(self, assertion: str, client_id: str | None) -> OAuthClient:
        unverified = parse_unverified(assertion, max_bytes=self.settings.max_token_bytes)
        issuer = unverified.claims.get("iss")
        if not isinstance(issuer, str) or (client_id is not None and client_id != issuer):
            raise TokenError("assertion.iss")
        client = await self.clients.get(ClientId(issuer)) if len(issuer) <= 128 else None
        if client is None or client.status is not ClientStatus.active:
            raise TokenError("assertion.client_unknown_or_disabled")
        if client.auth_method is not AuthMethod.private_key_jwt:
            raise TokenError("assertion.auth_method")
        return client

    async def _verified(self, assertion: str, client: OAuthClient) -> dict[str, Any]:
        async def verify(keys: KeySet) -> dict[str, Any]:
            return verify_jwt(
                assertion,
                keys,
                algorithms=CLIENT_ASSERTION_ALGORITHMS,
                typ={"JWT", None},
                max_bytes=self.settings.max_token_bytes,
                allowed_jku=client.jwks_uri,
            )

        try:
            return await verify(await self.keys.for_client(client))
        except UnknownKeyError:
            if client.jwks_uri is None:
                raise
            return await verify(await self.keys.for_client(client, refresh=True))
