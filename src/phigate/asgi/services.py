"""What one gateway node needs beyond its settings: the durable store, the keyring, shared state.

Opened once at start-up, in an order that fails early and clearly: the store
(migrated), then the keyring (a wrong or missing master key stops here), then
the shared state (replay caches, revocations). Closed in reverse order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from phigate.adapters.kms import Keyring, master_key_from_settings
from phigate.adapters.shared_state import open_shared_state
from phigate.adapters.sql import Database, SqlDataKeyStore, SqlSecretStore, open_database
from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.oauth.keys import SigningKeys
from phigate.ports import SharedState
from phigate.settings import ResolvedSettings


@dataclass
class Services:
    db: Database
    keyring: Keyring
    shared: SharedState
    clients: SqlClientRegistry
    vendors: SqlVendorRegistry
    signing_keys: SigningKeys

    @classmethod
    async def open(cls, resolved: ResolvedSettings) -> Services:
        db = await open_database(resolved.storage_url.get_secret_value())
        try:
            await db.migrate()
            keyring = await Keyring.open(SqlDataKeyStore(db), master_key_from_settings(resolved))
            shared = open_shared_state(
                resolved.shared_state_url.get_secret_value(),
                namespace=resolved.settings.shared_state.namespace,
            )
            signing_keys = SigningKeys(SqlSecretStore(db, keyring), resolved.settings.oauth)
            await signing_keys.ensure_current(time.time())
        except BaseException:
            await db.close()
            raise
        return cls(db, keyring, shared, SqlClientRegistry(db), SqlVendorRegistry(db), signing_keys)

    async def close(self) -> None:
        await self.db.close()
