"""Resource-server mode: accepting access tokens of an external OpenID Connect provider.

The provider is trusted by configuration only: its issuer URL. Its discovery
document (``{issuer}/.well-known/openid-configuration``) must name that same
issuer (OpenID Connect Discovery 4.3: a document claiming another issuer is a
mix-up), and its ``jwks_uri`` is fetched through the guarded fetcher. Keys are
cached for ``jwks_cache_seconds``. A token with an unknown ``kid`` refreshes the
key set at most once per ``refresh_interval`` seconds, whoever asks and however
many ask at once, so a flood of made-up kids costs one fetch, not one per token.
When a refresh fails, the keys already held stay in use for one more cache
period, then are dropped (fail closed): a provider outage does not stop traffic
at once, and a key removed at the provider is not trusted forever.

Token checks: signature by a provider key, ``alg`` in the configured allowlist
and pinned per key; ``typ`` ``at+jwt`` (RFC 9068), ``JWT`` or absent, since
Keycloak, Okta and Entra ID issue the latter two; ``iss`` equal to the discovered
issuer; ``aud`` must *contain* the configured audience (RFC 9068 4: providers
such as Keycloak list several audiences); ``exp`` required, ``nbf`` and ``iat``
checked. An ID token of the same provider fails the audience check, since its
``aud`` is the relying party's client id, never the API's audience; a ``typ``
such as ``id_token+jwt`` or ``logout+jwt`` is refused outright.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from phigate.errors import UpstreamError
from phigate.oauth.jose import Claims, KeySet, TokenError, UnknownKeyError, check_claims, verify_jwt
from phigate.ports import JwksFetcher
from phigate.settings import ExternalIssuerSettings

ACCEPTED_TYPES: frozenset[str | None] = frozenset({"at+jwt", "JWT", None})
DISCOVERY_PATH = "/.well-known/openid-configuration"


class ExternalIssuer:
    """One external provider's key set and token checks; safe for concurrent use in one event loop.

    ``clock`` is monotonic seconds, for the cache only; token times use the
    ``now`` (epoch seconds) given to :meth:`verify`.
    """

    def __init__(
        self,
        settings: ExternalIssuerSettings,
        fetcher: JwksFetcher,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_token_bytes: int = 8192,
        skew: float = 30.0,
        refresh_interval: float = 30.0,
    ) -> None:
        self.settings = settings
        self._fetcher = fetcher
        self._clock = clock
        self._max_token_bytes = max_token_bytes
        self._skew = skew
        self._refresh_interval = refresh_interval
        self._issuer: str | None = None  # as the discovery document spells it
        self._jwks_uri: str | None = None
        self._keys = KeySet()
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    async def verify(self, token: str, now: float) -> Claims:
        """The claims of a valid access token of this provider; raises :class:`TokenError`."""
        if self._stale():
            await self._refresh(forced=False)
        try:
            claims = self._verify_signature(token)
        except UnknownKeyError:
            if not await self._refresh(forced=True):
                raise
            claims = self._verify_signature(token)
        check_claims(
            claims,
            issuer=self._issuer or self.settings.issuer,
            audience=self.settings.audience,
            now=now,
            skew=self._skew,
            multiple_audiences=True,
        )
        return claims

    async def refresh(self) -> None:
        """Fetch discovery and keys now (at start-up, to fail early); raises :class:`UpstreamError`."""
        async with self._lock:
            await self._fetch()

    def _verify_signature(self, token: str) -> Claims:
        if self._keys_expired():
            raise TokenError("external.keys_unavailable")
        return verify_jwt(
            token,
            self._keys,
            algorithms=self.settings.algorithms,
            typ=ACCEPTED_TYPES,
            max_bytes=self._max_token_bytes,
        )

    def _stale(self) -> bool:
        age = self._age()
        return age is None or age >= self.settings.jwks_cache_seconds

    def _keys_expired(self) -> bool:
        age = self._age()
        return age is None or age >= 2 * self.settings.jwks_cache_seconds

    def _age(self) -> float | None:
        return None if self._fetched_at is None else self._clock() - self._fetched_at

    async def _refresh(self, *, forced: bool) -> bool:
        """Refresh if allowed now; whether this call (or a concurrent one) brought new keys."""
        requested_at = self._clock()
        async with self._lock:
            if self._fetched_at is not None and self._fetched_at >= requested_at:
                return True  # another task refreshed while this one waited
            if self._attempted_at is not None and self._clock() - self._attempted_at < self._refresh_interval:
                return False
            if not forced and not self._stale():
                return False
            try:
                await self._fetch()
            except UpstreamError:
                return False
        return True

    async def _fetch(self) -> None:
        self._attempted_at = self._clock()
        jwks_uri = self._jwks_uri or await self._discover()
        try:
            document = await self._fetcher.fetch_json(jwks_uri)
        except UpstreamError:
            self._jwks_uri = None  # rediscover next time: the provider may have moved its keys
            raise
        self._keys = KeySet.from_jwks(document, algorithms=self.settings.algorithms)
        self._fetched_at = self._clock()

    async def _discover(self) -> str:
        document = await self._fetcher.fetch_json(self.settings.issuer + DISCOVERY_PATH)
        issuer, jwks_uri = document.get("issuer"), document.get("jwks_uri")
        if not isinstance(issuer, str) or issuer.rstrip("/") != self.settings.issuer:
            raise UpstreamError("The external issuer's discovery document names another issuer.")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith("https://"):
            raise UpstreamError("The external issuer's discovery document has no https jwks_uri.")
        self._issuer, self._jwks_uri = issuer, jwks_uri
        return jwks_uri
