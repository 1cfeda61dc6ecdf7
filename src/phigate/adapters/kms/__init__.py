"""Master keys and envelope encryption at rest: the only adapter that imports ``cryptography``.

Open a keyring with the configured master key::

    kek = master_key_from_settings(resolved)
    keyring = await Keyring.open(SqlDataKeyStore(db), kek)
    blob = await keyring.encrypt(b"value", context=b"table/purpose/row")
"""

from __future__ import annotations

from phigate.adapters.kms.keyring import DataKeyStatus, Keyring, KeyringStatus
from phigate.adapters.kms.master_key import LocalMasterKey, generate_master_key, parse_master_key
from phigate.adapters.kms.plugins import KMS_PLUGINS, KmsPlugin, file_keyring, master_key_from_settings
from phigate.ports import KeyEncryptionKey

__all__ = [
    "KMS_PLUGINS",
    "DataKeyStatus",
    "KeyEncryptionKey",
    "Keyring",
    "KeyringStatus",
    "KmsPlugin",
    "LocalMasterKey",
    "file_keyring",
    "generate_master_key",
    "master_key_from_settings",
    "parse_master_key",
]
