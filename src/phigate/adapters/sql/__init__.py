"""The durable store on SQLAlchemy 2 (async) with Alembic migrations shipped in the package.

::

    db = await open_database("sqlite+aiosqlite:///phigate.db")
    await db.migrate()          # or: await db.check_current() on nodes that must not migrate
    ...
    await db.close()
"""

from __future__ import annotations

from phigate.adapters.sql.data_keys import SqlDataKeyStore
from phigate.adapters.sql.database import Database, as_utc, open_database
from phigate.adapters.sql.secret_store import SqlSecretStore, secret_context

__all__ = ["Database", "SqlDataKeyStore", "SqlSecretStore", "as_utc", "open_database", "secret_context"]
