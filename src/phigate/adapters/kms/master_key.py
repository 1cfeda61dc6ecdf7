"""The local master key: 32 bytes from a file or the environment, used as a KEK.

Data keys are wrapped with AES-256-GCM under the master key; the associated data
binds the wrap to its data key's id, so a wrap copied onto another data key does
not unwrap.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import string

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from phigate.errors import ConfigError, KeyStoreError

KEY_BYTES = 32
_NONCE_BYTES = 12
_WRAP_VERSION = b"\x01"
_WRAP_DOMAIN = b"phigate.dek-wrap.v1\x00"
_FINGERPRINT_DOMAIN = b"phigate.kek-id.v1"


def generate_master_key() -> str:
    """A new random master key as base64 text (what a master key file holds)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def parse_master_key(text: str, where: str = "master_key") -> bytes:
    """Decode base64 or hex ``text`` into a 32-byte key; ConfigError naming ``where`` otherwise.

    The message says what is wrong and how to fix it, never what the text was.
    """
    text = text.strip()
    if not text:
        raise ConfigError(problems=[f"{where}: the master key is empty; {_HOW_TO}"])
    key = _decode(text)
    if key is None:
        raise ConfigError(problems=[f"{where}: the master key is neither base64 nor hex; {_HOW_TO}"])
    if len(key) != KEY_BYTES:
        size = f"the master key is {len(key)} bytes, it must be exactly {KEY_BYTES}"
        raise ConfigError(problems=[f"{where}: {size}; {_HOW_TO}"])
    return key


_HOW_TO = (
    "write 32 random bytes as base64 (44 characters) or hex (64 characters), "
    "e.g. with `phigate keys new-master-key --out FILE`"
)


def _decode(text: str) -> bytes | None:
    # Hex first: 32 bytes in base64 always carry '=' or are 43 characters long, so never look like hex.
    if len(text) % 2 == 0 and all(c in string.hexdigits for c in text):
        return bytes.fromhex(text)
    for alphabet in (None, b"-_"):
        try:
            return base64.b64decode(text, altchars=alphabet, validate=True)
        except (binascii.Error, ValueError):
            continue
    return None


class LocalMasterKey:
    """A KEK held in this process (:class:`phigate.ports.KeyEncryptionKey`)."""

    __slots__ = ("_aead", "_key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ConfigError(problems=[f"master_key: the master key must be exactly {KEY_BYTES} bytes"])
        self._aead = AESGCM(key)
        # An HMAC of a fixed label: stable per key, reveals nothing about it.
        digest = hmac.new(key, _FINGERPRINT_DOMAIN, hashlib.sha256).hexdigest()
        self._key_id = f"kek-{digest[:16]}"

    @classmethod
    def from_text(cls, text: str, where: str = "master_key") -> LocalMasterKey:
        return cls(parse_master_key(text, where))

    @property
    def key_id(self) -> str:
        return self._key_id

    def wrap(self, dek: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _WRAP_VERSION + nonce + self._aead.encrypt(nonce, dek, _WRAP_DOMAIN + context)

    def unwrap(self, blob: bytes, context: bytes) -> bytes:
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _WRAP_VERSION:
            raise KeyStoreError(f"A data key wrapped by {self._key_id} is damaged or of an unknown format.")
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, _WRAP_DOMAIN + context)
        except InvalidTag:
            raise KeyStoreError(
                f"The master key {self._key_id} does not unwrap a data key it is recorded as wrapping "
                "(the stored wrap was altered or belongs to another data key)."
            ) from None

    def __repr__(self) -> str:
        return f"LocalMasterKey(key_id={self._key_id!r})"
