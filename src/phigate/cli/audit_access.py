"""What every ``phigate audit`` command shares: the settings, the store and the checkpoint keys."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from phigate.adapters.kms.signing import CheckpointKeys
from phigate.adapters.sql import Database, SqlSecretStore, open_database
from phigate.cli.output import fail
from phigate.cli.store import open_keyring
from phigate.settings import ResolvedSettings


@asynccontextmanager
async def opened(resolved: ResolvedSettings) -> AsyncIterator[tuple[Database, CheckpointKeys]]:
    db = await open_database(resolved.storage_url.get_secret_value())
    try:
        await db.check_current()
        keyring = await open_keyring(db, resolved)
        yield db, await CheckpointKeys.load(SqlSecretStore(db, keyring))
    finally:
        await db.close()


def when(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail("a time is an ISO 8601 date or date-time, for example 2026-01-31 or 2026-01-31T08:00:00Z")
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def cli_node() -> str:
    """This command's own chain (one per host and process), so it never races a gateway node."""
    return f"cli-{socket.gethostname()}-{os.getpid()}-{int(time.time())}"[:128]
