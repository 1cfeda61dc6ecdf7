"""What every command on the configured store shares.

Its ``--config`` and ``--json`` options, loading the settings (a phigate error becomes a one-line reason),
and the store with its schema brought up to date first (migrations are idempotent and locked, so this is
safe beside running nodes).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from phigate.adapters.kms import Keyring, master_key_from_settings
from phigate.adapters.sql import Database, SqlDataKeyStore, open_database
from phigate.cli.output import reported_errors
from phigate.settings import ResolvedSettings, load_settings

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The phigate.yaml to use.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
T = TypeVar("T")


def run_with_settings(config: Path, work: Callable[[ResolvedSettings], Coroutine[Any, Any, T]]) -> T:
    """Load ``config`` and run ``work``; any phigate error becomes a one-line reason and exit 1."""
    with reported_errors():
        return asyncio.run(work(load_settings(config)))


@asynccontextmanager
async def migrated_database(resolved: ResolvedSettings) -> AsyncIterator[Database]:
    db = await open_database(resolved.storage_url.get_secret_value())
    try:
        await db.migrate()
        yield db
    finally:
        await db.close()


async def open_keyring(db: Database, resolved: ResolvedSettings) -> Keyring:
    """The store's data keys, opened with the configured master key: its sealed columns become readable."""
    return await Keyring.open(SqlDataKeyStore(db), master_key_from_settings(resolved))
