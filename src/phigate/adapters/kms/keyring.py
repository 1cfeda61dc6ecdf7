"""The keyring: envelope encryption with rotating data keys under rotating master keys.

Values are sealed with AES-256-GCM data keys (DEKs); each DEK is stored wrapped
by one or more master keys (KEKs). A node holds one KEK and uses whichever wrap
matches it, which is what lets a master key rotate without downtime:

1. ``rewrap(new)`` (run with the current key) adds a wrap under the new KEK to
   every DEK and keeps the old wraps, so nodes on either key keep working;
2. every node is restarted with the new key;
3. ``retire(old_id)`` (run with the new key) removes the old wraps.

Creating a DEK while two KEKs are in use would leave nodes on the other KEK
unable to read it, so data-key rotation is refused until step 3 is done.
Random 96-bit nonces keep each DEK safe for about 2**32 encryptions: rotate the
data key long before that (for example monthly).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from phigate.adapters.kms import envelope
from phigate.errors import KeyStoreError
from phigate.ports import DataKeyRecord, DataKeyStore, KeyEncryptionKey

_CONTEXT_PREFIX = b"phigate.data-key:"


@dataclass(frozen=True)
class DataKeyStatus:
    id: str
    generation: int
    created_at: datetime
    kek_ids: tuple[str, ...]
    active: bool


@dataclass(frozen=True)
class KeyringStatus:
    """What an operator may see of the keyring: ids and dates, never key material."""

    configured_kek_id: str
    kek_ids: tuple[str, ...]
    data_keys: tuple[DataKeyStatus, ...]
    problem: str | None

    @classmethod
    def of(cls, records: list[DataKeyRecord], kek_id: str) -> KeyringStatus:
        newest = records[-1].id if records else None
        keys = tuple(
            DataKeyStatus(r.id, r.generation, r.created_at, tuple(sorted(r.wraps)), r.id == newest)
            for r in records
        )
        return cls(kek_id, _kek_ids(records), keys, coverage_problem(records, kek_id))


def coverage_problem(records: list[DataKeyRecord], kek_id: str) -> str | None:
    """Why a node holding ``kek_id`` cannot open these data keys, or ``None`` when it can."""
    mine = sum(kek_id in r.wraps for r in records)
    if records and mine == 0:
        known = ", ".join(_kek_ids(records))
        return (
            f"The configured master key ({kek_id}) is not the one this store's data keys are wrapped by "
            f"({known}): configure the master key they were created with (see `phigate keys status`)."
        )
    if mine < len(records):
        return (
            f"{len(records) - mine} of {len(records)} data keys are not wrapped by the configured master key "
            f"({kek_id}): finish the master-key rotation with `phigate keys rotate` on a node that holds the "
            "key they are wrapped by."
        )
    return None


def _kek_ids(records: Iterable[DataKeyRecord]) -> tuple[str, ...]:
    return tuple(sorted({kek for r in records for kek in r.wraps}))


def _wrap_context(data_key_id: str) -> bytes:
    return _CONTEXT_PREFIX + data_key_id.encode("ascii")


class Keyring:
    """Encrypts and decrypts values at rest (:class:`phigate.ports.DataCipher`).

    Open it with :meth:`open`. Unwrapped data keys stay in memory only. The
    active data key is re-read every ``active_check_seconds`` so a rotation made
    by another node is picked up without a restart; until then the older key is
    still a valid one to seal with.
    """

    def __init__(self, store: DataKeyStore, kek: KeyEncryptionKey, active_check_seconds: float) -> None:
        self._store = store
        self._kek = kek
        self._aeads: dict[str, AESGCM] = {}
        self._active: str | None = None
        self._active_checked = 0.0
        self._active_check_seconds = active_check_seconds

    @classmethod
    async def open(
        cls,
        store: DataKeyStore,
        kek: KeyEncryptionKey,
        *,
        create: bool = True,
        active_check_seconds: float = 60.0,
    ) -> Keyring:
        """Check that ``kek`` opens every data key (KeyStoreError if not) and unwrap them.

        With ``create`` an empty store gets its first data key.
        """
        keyring = cls(store, kek, active_check_seconds)
        records = await store.data_keys()
        if not records and create:
            records = await keyring._add_data_key(1)
        keyring._adopt(records)
        return keyring

    @property
    def kek_id(self) -> str:
        return self._kek.key_id

    async def encrypt(self, plaintext: bytes, context: bytes) -> bytes:
        data_key_id = await self._active_data_key()
        return envelope.seal(self._aeads[data_key_id], data_key_id, plaintext, context)

    async def decrypt(self, blob: bytes, context: bytes) -> bytes:
        sealed = envelope.parse(blob)
        aead = self._aeads.get(sealed.data_key_id) or await self._load(sealed.data_key_id)
        return envelope.open_sealed(aead, sealed, context)

    def data_key_id(self, blob: bytes) -> str:
        return envelope.parse(blob).data_key_id

    async def rotate_data_key(self) -> str:
        """Make a new active data key; older ones keep decrypting. Returns its id."""
        records = await self._store.data_keys()
        others = [k for k in _kek_ids(records) if k != self.kek_id]
        if others:
            raise KeyStoreError(
                f"A master-key rotation is in progress (data keys are also wrapped by {', '.join(others)}): "
                "finish it with `phigate keys retire` before rotating the data key."
            )
        records = await self._add_data_key(records[-1].generation + 1 if records else 1)
        self._adopt(records)
        assert self._active is not None
        return self._active

    async def rewrap(self, new_kek: KeyEncryptionKey) -> int:
        """Wrap every data key under ``new_kek`` too; returns how many wraps were added."""
        if new_kek.key_id == self.kek_id:
            raise KeyStoreError(f"The new master key is the one already in use ({self.kek_id}).")
        records = await self._store.data_keys()
        self._adopt(records)
        wraps = {}
        for record in records:
            context = _wrap_context(record.id)
            wrapped = new_kek.wrap(self._unwrap(record), context)
            new_kek.unwrap(wrapped, context)  # prove the new key opens it before storing
            wraps[record.id] = wrapped
        return await self._store.add_wraps(new_kek.key_id, wraps)

    async def retire(self, kek_id: str) -> int:
        """Remove the wraps of an old master key; returns how many were removed."""
        if kek_id == self.kek_id:
            raise KeyStoreError(
                f"Refusing to retire {kek_id}: it is the master key this node is configured with. "
                "Retire an old key from a node configured with the new one."
            )
        self._adopt(await self._store.data_keys())
        removed = await self._store.remove_wraps(kek_id)
        if removed == 0:
            raise KeyStoreError(f"No data key is wrapped by {kek_id} (see `phigate keys status`).")
        return removed

    async def status(self) -> KeyringStatus:
        return KeyringStatus.of(await self._store.data_keys(), self.kek_id)

    def _adopt(self, records: list[DataKeyRecord]) -> None:
        problem = coverage_problem(records, self.kek_id)
        if problem is not None:
            raise KeyStoreError(problem)
        for record in records:
            if record.id not in self._aeads:
                self._aeads[record.id] = AESGCM(self._unwrap(record))
        self._active = records[-1].id if records else None
        self._active_checked = time.monotonic()

    def _unwrap(self, record: DataKeyRecord) -> bytes:
        return self._kek.unwrap(record.wraps[self.kek_id], _wrap_context(record.id))

    async def _add_data_key(self, generation: int) -> list[DataKeyRecord]:
        data_key_id = envelope.new_data_key_id()
        wrapped = self._kek.wrap(AESGCM.generate_key(bit_length=256), _wrap_context(data_key_id))
        record = DataKeyRecord(data_key_id, generation, datetime.now(UTC), {self.kek_id: wrapped})
        # When another node took this generation first its key is as good as ours: use it.
        await self._store.add_data_key(record)
        return await self._store.data_keys()

    async def _active_data_key(self) -> str:
        if self._active is None or time.monotonic() - self._active_checked > self._active_check_seconds:
            self._adopt(await self._store.data_keys())
        if self._active is None:
            raise KeyStoreError("The key store has no data key yet: open the keyring with create=True.")
        return self._active

    async def _load(self, data_key_id: str) -> AESGCM:
        record = await self._store.data_key(data_key_id)
        if record is None:
            raise KeyStoreError(envelope.TAMPERED)
        if self.kek_id not in record.wraps:
            raise KeyStoreError(
                f"Data key {data_key_id} is not wrapped by the configured master key ({self.kek_id}): "
                "finish the master-key rotation with `phigate keys rotate`."
            )
        aead = self._aeads[data_key_id] = AESGCM(self._unwrap(record))
        return aead

    def __repr__(self) -> str:
        return f"Keyring(kek_id={self.kek_id!r}, data_keys={len(self._aeads)})"
