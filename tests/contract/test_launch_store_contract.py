"""EHR launch contexts in the durable store, on SQLite and PostgreSQL: live until expiry, used once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from phigate.adapters.kms import Keyring, LocalMasterKey, generate_master_key
from phigate.adapters.sql import Database, SqlDataKeyStore, open_database
from phigate.adapters.sql.launches import SqlLaunches
from phigate.people.errors import UserError
from phigate.people.launches import launch_hash, new_launch


@pytest.fixture
async def launches(storage_url: str) -> AsyncIterator[SqlLaunches]:
    database: Database = await open_database(storage_url)
    await database.migrate()
    keyring = await Keyring.open(SqlDataKeyStore(database), LocalMasterKey.from_text(generate_master_key()))
    yield SqlLaunches(database, keyring)
    await database.close()


async def test_a_launch_is_read_back_and_used_exactly_once_even_when_raced(launches: SqlLaunches) -> None:
    now = time.time()
    value, context = new_launch("chart-app", "pat-1", now, 600, encounter="enc-1", user_id="u-1")
    await launches.add(context)
    assert context.launch_hash == launch_hash(value) != value
    assert await launches.get(launch_hash(value)) == context
    won = await asyncio.gather(*(launches.consume(context.launch_hash, now + 1) for _ in range(8)))
    assert sorted(won) == [False] * 7 + [True]
    assert await launches.get(context.launch_hash) is None  # used: gone for every node


async def test_an_expired_launch_is_not_used_and_is_purged(launches: SqlLaunches) -> None:
    now = time.time()
    _, old = new_launch("chart-app", "pat-1", now - 700, 600)
    _, fresh = new_launch("chart-app", "pat-2", now, 600)
    await launches.add(old)
    await launches.add(fresh)
    assert not await launches.consume(old.launch_hash, now)
    assert await launches.purge(now) == 1
    assert await launches.get(old.launch_hash) is None and await launches.get(fresh.launch_hash) == fresh


@pytest.mark.parametrize(
    ("patient", "encounter", "field"), [("../x", None, "patient"), ("p", "e/1", "encounter")]
)
def test_launch_ids_must_be_fhir_ids(patient: str, encounter: str | None, field: str) -> None:
    with pytest.raises(UserError) as refused:
        new_launch("chart-app", patient, 0.0, 600, encounter=encounter)
    assert refused.value.field == field
