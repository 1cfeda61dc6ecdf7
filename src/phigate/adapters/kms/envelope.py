"""The versioned ciphertext format of values encrypted at rest.

::

    version (1 byte, 0x01) | data key id (16 bytes) | nonce (12 bytes) | AES-256-GCM ciphertext + tag

The associated data is the header (version and data key id) followed by the
caller's context, so neither the key id nor the context can be changed or the
value moved to another row without the tag failing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from phigate.errors import KeyStoreError

VERSION = 1
DATA_KEY_ID_BYTES = 16
NONCE_BYTES = 12
_TAG_BYTES = 16
_HEADER_BYTES = 1 + DATA_KEY_ID_BYTES
_MIN_BYTES = _HEADER_BYTES + NONCE_BYTES + _TAG_BYTES

TAMPERED = "A stored encrypted value failed its integrity check (it was altered or moved from another row)."


@dataclass(frozen=True)
class Sealed:
    """A parsed ciphertext: which data key sealed it, and the parts to open it."""

    data_key_id: str
    header: bytes
    nonce: bytes
    ciphertext: bytes


def new_data_key_id() -> str:
    return os.urandom(DATA_KEY_ID_BYTES).hex()


def seal(aead: AESGCM, data_key_id: str, plaintext: bytes, context: bytes) -> bytes:
    header = bytes([VERSION]) + bytes.fromhex(data_key_id)
    nonce = os.urandom(NONCE_BYTES)
    return header + nonce + aead.encrypt(nonce, plaintext, header + context)


def parse(blob: bytes) -> Sealed:
    """Split ``blob`` into its parts; KeyStoreError when it is not in a known format."""
    if len(blob) < _MIN_BYTES or blob[0] != VERSION:
        raise KeyStoreError(TAMPERED)
    return Sealed(
        data_key_id=blob[1:_HEADER_BYTES].hex(),
        header=blob[:_HEADER_BYTES],
        nonce=blob[_HEADER_BYTES : _HEADER_BYTES + NONCE_BYTES],
        ciphertext=blob[_HEADER_BYTES + NONCE_BYTES :],
    )


def open_sealed(aead: AESGCM, sealed: Sealed, context: bytes) -> bytes:
    try:
        return aead.decrypt(sealed.nonce, sealed.ciphertext, sealed.header + context)
    except InvalidTag:
        raise KeyStoreError(TAMPERED) from None
