"""Ports: the Protocols that domain code and use cases depend on.

Each port has at least one adapter in :mod:`phigate.adapters`; a port's
docstring is its contract (call order, concurrency, what ``None`` means). Value
types that cross a port are plain frozen dataclasses defined next to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


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
