"""The durable store: one async SQLAlchemy engine, its migrations and its failures.

SQLite (``sqlite+aiosqlite:///path``) is the embedded default; PostgreSQL
(``postgresql+asyncpg://...``) is shared by every gateway node. Any failure to
reach or use the database becomes a :class:`StorageError` whose message names
the kind of failure, never the URL, a password or a query's parameters.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from phigate.adapters.sql.schema import VERSION_TABLE
from phigate.errors import ConfigError, StorageError

_MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key: a fixed number every phigate node agrees on.
_MIGRATION_LOCK = 0x70686967617465  # "phigate"
_DIALECTS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


async def open_database(url: str, *, pool_size: int = 10, connect_timeout: float = 5.0) -> Database:
    """Create the engine for ``url`` and check that the database answers.

    Raises ConfigError for a URL phigate does not support and StorageError when
    the database cannot be reached within ``connect_timeout`` seconds.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(problems=["storage.url: is not a valid database URL"]) from None
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ConfigError(
            problems=["storage.url: must start with sqlite+aiosqlite:// or postgresql+asyncpg://"]
        )
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, in_memory=parsed.database in (None, "", ":memory:"))
    else:
        engine = create_async_engine(
            url,
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=connect_timeout * 2,
            pool_recycle=1800,
            connect_args={"timeout": connect_timeout, "server_settings": {"application_name": "phigate"}},
        )
    database = Database(engine)
    try:
        async with asyncio.timeout(connect_timeout + 1):
            await database.ping()
    except TimeoutError:
        await engine.dispose()
        raise StorageError(f"The {database.label} database did not answer in time.") from None
    except StorageError:
        await engine.dispose()
        raise
    return database


def _sqlite_engine(url: str, in_memory: bool) -> AsyncEngine:
    if in_memory:  # one shared connection, or every connection would see its own empty database
        engine = create_async_engine(url, poolclass=StaticPool)
    else:
        engine = create_async_engine(url, pool_size=5, max_overflow=5)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; foreign keys are off unless asked for per connection.
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=5000", "synchronous=NORMAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


class Database:
    """An open store; share one per process and :meth:`close` it at shutdown."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.label = _DIALECTS.get(self.dialect, self.dialect)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction, committed when the block ends without an error."""
        with self._translated():
            async with self.engine.begin() as connection:
                yield connection

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (no transaction is committed)."""
        with self._translated():
            async with self.engine.connect() as connection:
                yield connection

    async def ping(self) -> None:
        async with self.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def migrate(self) -> None:
        """Upgrade the schema to the newest revision; does nothing when it is current.

        On PostgreSQL a transaction-scoped advisory lock makes nodes that start
        together migrate one after the other; the later ones find nothing to do.
        SQLite gets the same from taking its write lock before reading the version.
        """
        async with self.begin() as connection:
            if self.dialect == "postgresql":
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            else:
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
            await connection.run_sync(_upgrade)

    async def check_current(self) -> None:
        """Raise StorageError unless the schema is exactly at this phigate's newest revision."""
        async with self.connect() as connection:
            current = await connection.run_sync(_current_revisions)
        script = _script()
        heads = set(script.get_heads())
        if current == heads:
            return
        if not current:
            raise StorageError(
                f"The {self.label} database has no phigate schema yet: run the database migrations first."
            )
        known = {revision.revision for revision in script.walk_revisions()}
        if current - known:
            raise StorageError(
                f"The {self.label} database schema (revision {', '.join(sorted(current))}) is newer than "
                "this phigate knows: upgrade phigate on this node."
            )
        raise StorageError(
            f"The {self.label} database schema is behind (revision {', '.join(sorted(current))}, "
            f"this phigate needs {', '.join(sorted(heads))}): run the database migrations first."
        )

    async def close(self) -> None:
        await self.engine.dispose()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except IntegrityError:
            raise  # a constraint the caller handles, not a storage failure
        except (SQLAlchemyError, OSError, asyncpg.PostgresError, sqlite3.Error) as exc:
            raise StorageError(f"The {self.label} database {_failure(exc)}.") from None

    def __repr__(self) -> str:
        return f"Database({self.label})"  # never the URL: it may carry a password


def _failure(exc: BaseException) -> str:
    """What went wrong, in words that carry no URL, password or parameter."""
    hint = "check storage.url and that the server is running"
    for cause in _chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return f"cannot be reached (connection refused): {hint}"
        if isinstance(cause, socket.gaierror):
            return f"cannot be reached (unknown host name): {hint}"
        if isinstance(cause, TimeoutError):
            return f"cannot be reached (timed out): {hint}"
        if isinstance(cause, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError):
            return "refused the credentials: check the user and password of storage.url"
        if isinstance(cause, asyncpg.InvalidCatalogNameError):
            return "does not exist: create it or correct storage.url"
        if isinstance(cause, asyncpg.UndefinedTableError):
            return "lacks a phigate table: run the database migrations first"
        if isinstance(cause, sqlite3.Error):
            return f"failed ({cause})"  # SQLite's messages name no path and no value
        if isinstance(cause, OSError) and not isinstance(cause, DBAPIError):
            return f"cannot be reached ({type(cause).__name__}): {hint}"
    return f"failed ({type(exc).__name__})"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time phigate stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config())


def _upgrade(connection: Connection) -> None:
    # "heads": each capability adds its tables on a branch of its own from the shared base, so
    # capabilities developed side by side never collide on one revision number.
    command.upgrade(_alembic_config(connection), "heads")


def _current_revisions(connection: Connection) -> set[str]:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return set(context.get_current_heads())
