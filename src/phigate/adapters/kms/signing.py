"""Ed25519 keys that sign audit checkpoints (crypto stays in the kms quarantine).

The private key is kept in the :class:`~phigate.ports.SecretStore` (encrypted
at rest by the keyring, purpose ``audit-checkpoint-key``), one secret per key
named by its key id, so nodes that create one at the same moment each keep
theirs and every signature stays verifiable. Someone who can write the
database but does not hold the master key cannot sign a forged checkpoint.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from phigate.ports import SecretStore

PURPOSE = "audit-checkpoint-key"
_PREFIX = "audit-checkpoint-key:"


@dataclass(frozen=True)
class CheckpointKey:
    key_id: str
    _private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> CheckpointKey:
        return cls._of(Ed25519PrivateKey.generate())

    @classmethod
    def _of(cls, private: Ed25519PrivateKey) -> CheckpointKey:
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cls(hashlib.sha256(public).hexdigest()[:16], private)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def public_hex(self) -> str:
        return self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    def raw(self) -> bytes:
        return self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


class CheckpointKeys:
    """Every checkpoint key in the store; the first by id signs."""

    def __init__(self, keys: dict[str, CheckpointKey]) -> None:
        self.keys = keys

    @classmethod
    async def load(cls, store: SecretStore, *, create: bool = False) -> CheckpointKeys:
        keys: dict[str, CheckpointKey] = {}
        for name in await store.names(PURPOSE):
            raw = await store.get(name)
            if raw is not None:
                key = CheckpointKey._of(Ed25519PrivateKey.from_private_bytes(raw))
                keys[key.key_id] = key
        if not keys and create:
            key = CheckpointKey.generate()
            await store.put(_PREFIX + key.key_id, key.raw(), purpose=PURPOSE)
            keys[key.key_id] = key
        return cls(keys)

    @property
    def signing(self) -> CheckpointKey | None:
        return self.keys[min(self.keys)] if self.keys else None

    def verify(self, key_id: str, message: bytes, signature: bytes) -> bool:
        key = self.keys.get(key_id)
        if key is None:
            return False
        public: Ed25519PublicKey = key._private.public_key()
        try:
            public.verify(signature, message)
        except InvalidSignature:
            return False
        return True
