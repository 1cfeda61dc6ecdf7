"""Ports: the Protocols that domain code and use cases depend on.

Each port has at least one adapter in :mod:`phigate.adapters`; a port's
docstring is its contract (call order, concurrency, what ``None`` means). Value
types that cross a port are plain frozen dataclasses defined next to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class KeyEncryptionKey(Protocol):
    """A master key (KEK) that wraps data keys; the key itself never leaves the provider.

    ``key_id`` is a stable, public fingerprint (the same key always yields the same
    id, wherever it was read from). ``context`` is associated data: ``unwrap`` with
    another context fails. ``unwrap`` raises :class:`phigate.errors.KeyStoreError`
    when the blob was not wrapped by this key or was altered.
    """

    @property
    def key_id(self) -> str: ...

    def wrap(self, dek: bytes, context: bytes) -> bytes: ...

    def unwrap(self, blob: bytes, context: bytes) -> bytes: ...


class DataCipher(Protocol):
    """Encryption at rest of one value (a column, a file) bound to ``context``.

    ``context`` names where the value lives (table, purpose, row key); decrypting
    with any other context fails, so a ciphertext cannot be moved to another row.
    ``decrypt`` raises :class:`phigate.errors.KeyStoreError` for a blob that was
    altered, moved, or sealed with a data key this node cannot unwrap.
    Safe to call concurrently from many tasks.
    """

    async def encrypt(self, plaintext: bytes, context: bytes) -> bytes: ...

    async def decrypt(self, blob: bytes, context: bytes) -> bytes: ...

    def data_key_id(self, blob: bytes) -> str:
        """The id of the data key that sealed ``blob`` (to find rows still on an old key)."""
        ...


@dataclass(frozen=True)
class DataKeyRecord:
    """One stored data key: its wraps, one per master key (KEK id -> wrapped bytes)."""

    id: str
    generation: int
    created_at: datetime
    wraps: Mapping[str, bytes] = field(default_factory=dict)


class DataKeyStore(Protocol):
    """Durable, shared storage of wrapped data keys. Holds no plaintext key.

    The newest generation is the active data key. Every data key keeps at least
    one wrap: :meth:`remove_wraps` refuses to take the last one.
    """

    async def data_keys(self) -> list[DataKeyRecord]:
        """Every data key, oldest generation first."""
        ...

    async def data_key(self, data_key_id: str) -> DataKeyRecord | None:
        """One data key, or ``None`` when no such key exists."""
        ...

    async def add_data_key(self, record: DataKeyRecord) -> bool:
        """Store a new data key; ``False`` when another node took that generation first."""
        ...

    async def add_wraps(self, kek_id: str, wraps: Mapping[str, bytes]) -> int:
        """Add wraps under ``kek_id`` (data key id -> wrapped), keeping existing ones.

        Returns the number of wraps added.
        """
        ...

    async def remove_wraps(self, kek_id: str) -> int:
        """Remove every wrap under ``kek_id``; raise KeyStoreError if a data key would keep none."""
        ...


class SecretStore(Protocol):
    """Named secrets (client secrets, private keys), encrypted at rest.

    A secret is bound to its name and purpose: a stored value copied onto another
    name does not decrypt. ``get`` returns ``None`` when no secret has that name.
    """

    async def put(self, name: str, value: bytes, *, purpose: str) -> None: ...

    async def get(self, name: str) -> bytes | None: ...

    async def delete(self, name: str) -> bool:
        """``True`` when a secret was removed."""
        ...

    async def names(self, purpose: str | None = None) -> list[str]:
        """Names in order, optionally of one purpose only."""
        ...


# Shared state: what every gateway node must see at once (issue 3). Appended at the end so that
# parallel edits of this file do not collide; the error belongs in phigate.errors in the long run.


class ReplayCache(Protocol):
    """One-time values (a client assertion's or a DPoP proof's ``jti``) seen by every node.

    ``first_use(key, expires_at)`` returns True for exactly one call per ``key``
    until ``expires_at`` (seconds since the epoch, like a JWT ``exp``) passes,
    whichever node and task makes it; every other call returns False. The check
    and the claim are one atomic step, so concurrent calls never both get True.
    A key whose ``expires_at`` is not in the future returns False: an expired
    credential is never "first". Callers namespace keys themselves
    (``assertion:<client_id>:<jti>``, ``dpop:<jkt>:<jti>``) and add their allowed
    clock skew to ``expires_at``. Raises :class:`SharedStateUnavailable` when the
    shared service cannot confirm the claim: the caller must refuse the
    credential, since a "maybe first" would let a replay through. A claim that
    raised may still have been recorded, so the same key can be refused later;
    that is the safe side, as a client sends a fresh ``jti`` with each credential.
    """

    async def first_use(self, key: str, expires_at: float) -> bool: ...


class RevocationList(Protocol):
    """Revoked token ids (``jti``), kept in a local set that every node keeps in sync.

    :meth:`is_revoked` is synchronous and O(1): it reads only the local set, so it
    answers on the hot path even while the shared service is down. Revocations
    are never undone; each is forgotten once its ``expires_at`` (the token's
    ``exp``, epoch seconds) passes, which keeps the set small.

    Call order: :meth:`start` once before use (it loads the full current set and
    raises :class:`SharedStateUnavailable` when it cannot, so a node never
    serves with an empty list it did not read), :meth:`close` once at shutdown.

    Failure semantics: :meth:`revoke` returns only after the revocation is stored
    in the shared service, and it is then seen by every connected node within
    a second. When it cannot be stored it raises :class:`SharedStateUnavailable`
    (the issuing node refuses to confirm it) yet this node refuses the token at
    once and stores it when the service is back. A node cut off from the shared
    service keeps answering from its local set, reconnects by itself and, once
    back, reloads the full set; a revocation issued elsewhere meanwhile reaches
    it then. ``connected`` tells whether the node is in sync right now.
    """

    @property
    def connected(self) -> bool: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def is_revoked(self, token_id: str) -> bool: ...

    async def revoke(self, token_id: str, expires_at: float) -> None: ...


class SharedState(Protocol):
    """The bundle of shared-state adapters one node uses, chosen by ``shared_state.url``.

    ``label`` names the backend for logs and readiness ("memory", "Redis");
    ``connected`` is False while the node is cut off from the shared service.
    :meth:`start` before use, :meth:`close` at shutdown (both once).
    """

    @property
    def label(self) -> str: ...

    @property
    def replay_cache(self) -> ReplayCache: ...

    @property
    def revocations(self) -> RevocationList: ...

    @property
    def connected(self) -> bool: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


# Remote JSON documents for identity (issue 3): an external issuer's discovery document and
# JWKS, a client's registered jwks_uri. Implemented in phigate.proxy (the only HTTP client user).


class JwksFetcher(Protocol):
    """Fetches one JSON object from an ``https`` URL that configuration or a registration named.

    The URL is never taken from a token header. The implementation guards
    against SSRF: ``https`` only, no redirects, no private, loopback, link-local
    or multicast destination, a size cap, a timeout, a JSON object only. Every
    failure, whatever its cause, raises :class:`phigate.errors.UpstreamError`
    (a subclass with a ``reason`` for logs), never a library exception. No
    caching here: callers cache what they fetched. Safe to call concurrently.
    """

    async def fetch_json(self, url: str) -> Mapping[str, Any]: ...
