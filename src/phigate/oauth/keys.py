"""The gateway's own token signing keys: created, rotated, published and retired.

Private keys live in the :class:`~phigate.ports.SecretStore` (encrypted at rest
by the keyring, purpose ``oauth-signing-key``), one secret per key, named by
its ``kid``. Every node reads the same store, so every node signs with and
publishes the same keys once it has reloaded.

Lifecycle of a key, times in epoch seconds:

- *pending*: made by a rotation, ``active_from`` lies ``activation_delay``
  ahead. It is already published, so other nodes and resource servers learn it
  (at their next reload) before the first token signed with it reaches them.
- *active*: the newest key whose ``active_from`` has passed signs new tokens.
- *retiring*: once a newer key is active, the old one stays published until
  every token it signed has expired (successor's ``active_from`` +
  ``access_token_seconds`` + ``clock_skew_seconds``); then it is deleted.

Two nodes rotating at the same moment each add a key; that is harmless: every
node orders keys by (``active_from``, ``kid``) and so converges on the same active
key, and the other one retires like any superseded key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from phigate.errors import KeyStoreError
from phigate.oauth.jose import KeySet, PrivateKey, generate_key, load_private_key
from phigate.ports import SecretStore
from phigate.settings import OAuthSettings

PURPOSE = "oauth-signing-key"
_PREFIX = "oauth-signing-key:"
_DAY = 86400


@dataclass(frozen=True)
class SigningKey:
    """One stored key: its private half (parsed once) and when it starts signing."""

    private: PrivateKey
    active_from: float

    @property
    def kid(self) -> str:
        return self.private.kid

    def order(self) -> tuple[float, str]:
        return (self.active_from, self.kid)


class SigningKeys:
    """The node's view of the signing keys; :meth:`ensure_current` and :meth:`reload` refresh it.

    Call :meth:`ensure_current` at start-up, before serving (it creates the first
    key), and then on every node at least every ``activation_delay / 2`` seconds
    (it reloads, rotates when due and retires; idempotent), so a pending key is
    known everywhere before it signs. :meth:`reload` alone only picks up other
    nodes' changes. The read-only methods (:meth:`active`, :meth:`jwks`,
    :meth:`verification_keys`) never touch the store: safe on the request path.
    """

    def __init__(
        self,
        store: SecretStore,
        settings: OAuthSettings,
        *,
        activation_delay: float = 60.0,
        min_reload_interval: float = 5.0,
    ) -> None:
        self._store = store
        self._settings = settings
        self._activation_delay = activation_delay
        self._min_reload_interval = min_reload_interval
        self._keys: dict[str, SigningKey] = {}
        self._published = KeySet()
        self._jwks: dict[str, Any] = {"keys": []}
        self._now = 0.0
        self._last_reload = float("-inf")

    async def ensure_current(self, now: float) -> None:
        """Reload, create the first key, rotate an old one, delete retired ones."""
        await self.reload(now)
        newest = max(self._keys.values(), key=SigningKey.order, default=None)
        if newest is None:
            await self._create(now)
        elif newest.active_from <= now and self._rotation_due(newest, now):
            await self._create(now + self._activation_delay)
        for kid in self._retired(now):
            await self._store.delete(_PREFIX + kid)
            del self._keys[kid]
        self._publish(now)

    async def reload(self, now: float) -> None:
        """Pick up keys added or deleted by other nodes; only new keys are read and decrypted."""
        names = set(await self._store.names(PURPOSE))
        kids = {name.removeprefix(_PREFIX) for name in names if name.startswith(_PREFIX)}
        for kid in self._keys.keys() - kids:
            del self._keys[kid]
        for kid in kids - self._keys.keys():
            value = await self._store.get(_PREFIX + kid)
            if value is not None:
                self._keys[kid] = _decode(kid, value)
        self._last_reload = now
        self._publish(now)

    async def reload_for_unknown(self, kid: str, now: float) -> bool:
        """Whether ``kid`` is one of ours, reloading at most once per ``min_reload_interval``.

        For a token whose kid this node does not know yet (a key another node
        just made): bounded, so a flood of made-up kids costs one reload at most.
        """
        if kid not in self._published and now - self._last_reload >= self._min_reload_interval:
            await self.reload(now)
        return kid in self._published

    def active(self, now: float | None = None) -> PrivateKey:
        """The key that signs new tokens at ``now`` (default: as of the last reload)."""
        at = self._now if now is None else now
        current = self._current(at)
        if current is None:
            raise KeyStoreError("No token signing key is available; the key store was not loaded.")
        return current.private

    def jwks(self) -> dict[str, Any]:
        """The public JWKS for ``/oauth2/jwks``: pending, active and retiring keys, newest first."""
        return self._jwks

    def verification_keys(self) -> KeySet:
        """Every published key, for verifying the gateway's own tokens."""
        return self._published

    def _current(self, now: float) -> SigningKey | None:
        started = [key for key in self._keys.values() if key.active_from <= now]
        return max(started, key=SigningKey.order, default=None)

    def _rotation_due(self, newest: SigningKey, now: float) -> bool:
        too_old = now - newest.active_from >= self._settings.signing_key_rotation_days * _DAY
        return too_old or newest.private.alg != self._settings.signing_algorithm

    def _retired(self, now: float) -> list[str]:
        """Keys superseded long enough ago that no token they signed is still valid."""
        grace = self._settings.access_token_seconds + self._settings.clock_skew_seconds
        ordered = sorted(self._keys.values(), key=SigningKey.order)
        return [
            key.kid
            for key, successor in pairwise(ordered)
            if successor.active_from <= now and now >= successor.active_from + grace
        ]

    async def _create(self, active_from: float) -> None:
        private_jwk, _ = generate_key(self._settings.signing_algorithm)
        value = json.dumps({"jwk": private_jwk, "active_from": active_from}).encode("utf-8")
        await self._store.put(_PREFIX + private_jwk["kid"], value, purpose=PURPOSE)
        self._keys[private_jwk["kid"]] = SigningKey(load_private_key(private_jwk), active_from)

    def _publish(self, now: float) -> None:
        self._now = now
        ordered = sorted(self._keys.values(), key=SigningKey.order, reverse=True)
        self._jwks = {"keys": [dict(key.private.public_jwk) for key in ordered]}
        self._published = KeySet.from_jwks(self._jwks)


def _decode(kid: str, value: bytes) -> SigningKey:
    try:
        record = json.loads(value)
        private = load_private_key(record["jwk"])
        active_from = float(record["active_from"])
    except (ValueError, KeyError, TypeError):
        raise KeyStoreError("A stored token signing key is not valid.") from None
    if private.kid != kid:
        raise KeyStoreError("A stored token signing key is not valid.")
    return SigningKey(private, active_from)
