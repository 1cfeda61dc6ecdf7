"""One contract for the keyring and the secret store, run on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text, update

from phigate.adapters.kms import Keyring, LocalMasterKey, generate_master_key
from phigate.adapters.sql import Database, SqlDataKeyStore, SqlSecretStore, open_database
from phigate.adapters.sql.schema import data_key_wraps
from phigate.adapters.sql.schema import secrets as secrets_table
from phigate.errors import KeyStoreError, StorageError

PLAINTEXT = b"client-secret: tr0ub4dor&3-correct-horse"


@pytest.fixture
def db_url(storage_url: str) -> str:
    return storage_url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = await open_database(db_url)
    await database.migrate()
    yield database
    await database.close()


@pytest.fixture
def key_store(db: Database) -> SqlDataKeyStore:
    return SqlDataKeyStore(db)


@pytest.fixture
def old_key() -> LocalMasterKey:
    return LocalMasterKey.from_text(generate_master_key())


@pytest.fixture
async def keyring(key_store: SqlDataKeyStore, old_key: LocalMasterKey) -> Keyring:
    return await Keyring.open(key_store, old_key)


@pytest.fixture
def store(db: Database, keyring: Keyring) -> SqlSecretStore:
    return SqlSecretStore(db, keyring)


async def _raw_secret(db: Database, name: str) -> tuple[bytes, str]:
    async with db.connect() as connection:
        row = (
            await connection.execute(
                select(secrets_table.c.ciphertext, secrets_table.c.data_key_id).where(
                    secrets_table.c.name == name
                )
            )
        ).one()
    return bytes(row.ciphertext), row.data_key_id


async def _set_raw(db: Database, name: str, **values: object) -> None:
    async with db.begin() as connection:
        await connection.execute(update(secrets_table).where(secrets_table.c.name == name).values(**values))


# --- schema -------------------------------------------------------------------------------------------


async def test_migrate_is_idempotent_and_leaves_the_schema_current(db: Database) -> None:
    await db.migrate()
    await db.migrate()
    await db.check_current()


async def test_nodes_migrating_at_once_both_succeed(db_url: str) -> None:
    first, second = await open_database(db_url), await open_database(db_url)
    try:
        await asyncio.wait_for(asyncio.gather(first.migrate(), second.migrate()), timeout=30)
        await first.check_current()
        await second.check_current()
    finally:
        await first.close()
        await second.close()


async def test_a_database_without_the_schema_is_a_clear_storage_error(db_url: str) -> None:
    database = await open_database(db_url)
    try:
        with pytest.raises(StorageError, match="no phigate schema yet: run the database migrations"):
            await database.check_current()
    finally:
        await database.close()


async def test_a_schema_from_a_newer_phigate_is_refused(db: Database) -> None:
    async with db.begin() as connection:
        # One row per migration branch head: a newer phigate adds a revision this one does not know.
        await connection.execute(text("INSERT INTO phigate_schema_version (version_num) VALUES ('f00d')"))
    with pytest.raises(StorageError, match="newer than this phigate knows"):
        await db.check_current()


# --- secret store -------------------------------------------------------------------------------------


async def test_secrets_round_trip(store: SqlSecretStore) -> None:
    await store.put("client/lab-1", PLAINTEXT, purpose="client-secret")
    await store.put("signing/2024", b"\x00\xff private key bytes", purpose="signing-key")
    assert await store.get("client/lab-1") == PLAINTEXT
    assert await store.get("signing/2024") == b"\x00\xff private key bytes"
    assert await store.get("nobody") is None
    assert await store.names() == ["client/lab-1", "signing/2024"]
    assert await store.names(purpose="signing-key") == ["signing/2024"]

    await store.put("client/lab-1", b"replaced", purpose="client-secret")
    assert await store.get("client/lab-1") == b"replaced"
    assert await store.delete("client/lab-1") is True
    assert await store.delete("client/lab-1") is False
    assert await store.get("client/lab-1") is None
    assert await store.names() == ["signing/2024"]


async def test_ciphertext_at_rest_does_not_contain_the_plaintext(
    store: SqlSecretStore, db: Database, keyring: Keyring
) -> None:
    await store.put("client/lab-1", PLAINTEXT, purpose="client-secret")
    ciphertext, data_key_id = await _raw_secret(db, "client/lab-1")
    assert PLAINTEXT not in ciphertext
    assert b"tr0ub4dor" not in ciphertext
    assert ciphertext[0] == 1  # format version
    assert data_key_id == keyring.data_key_id(ciphertext)


@pytest.mark.parametrize("position", [0, 1, 20, 30, -1])
async def test_tampered_ciphertext_fails(store: SqlSecretStore, db: Database, position: int) -> None:
    await store.put("client/lab-1", PLAINTEXT, purpose="client-secret")
    ciphertext, _ = await _raw_secret(db, "client/lab-1")
    tampered = bytearray(ciphertext)
    tampered[position] ^= 0x01
    await _set_raw(db, "client/lab-1", ciphertext=bytes(tampered))
    with pytest.raises(KeyStoreError, match="integrity check"):
        await store.get("client/lab-1")


async def test_ciphertext_moved_to_another_secret_fails(store: SqlSecretStore, db: Database) -> None:
    await store.put("client/lab-1", PLAINTEXT, purpose="client-secret")
    await store.put("client/lab-2", b"the other secret", purpose="client-secret")
    ciphertext, _ = await _raw_secret(db, "client/lab-1")
    await _set_raw(db, "client/lab-2", ciphertext=ciphertext)
    with pytest.raises(KeyStoreError, match="moved from another row"):
        await store.get("client/lab-2")
    await _set_raw(db, "client/lab-1", purpose="signing-key")
    with pytest.raises(KeyStoreError):
        await store.get("client/lab-1")


# --- data keys ----------------------------------------------------------------------------------------


async def test_data_key_rotation_keeps_old_values_readable(
    store: SqlSecretStore, db: Database, keyring: Keyring, key_store: SqlDataKeyStore, old_key: LocalMasterKey
) -> None:
    await store.put("before", b"sealed with the first data key", purpose="client-secret")
    new_id = await keyring.rotate_data_key()
    await store.put("after", b"sealed with the second", purpose="client-secret")

    _, before_key = await _raw_secret(db, "before")
    _, after_key = await _raw_secret(db, "after")
    assert before_key != after_key
    assert after_key == new_id
    assert await store.get("before") == b"sealed with the first data key"
    # Another node, opening the keyring now, reads both and seals with the new key.
    other = SqlSecretStore(db, await Keyring.open(key_store, old_key))
    assert await other.get("before") == b"sealed with the first data key"
    assert await other.get("after") == b"sealed with the second"
    await other.put("third", b"x", purpose="client-secret")
    assert (await _raw_secret(db, "third"))[1] == new_id
    status = await keyring.status()
    assert [(k.generation, k.active) for k in status.data_keys] == [(1, False), (2, True)]


async def test_a_rotation_by_another_node_is_picked_up(db: Database, key_store: SqlDataKeyStore) -> None:
    kek = LocalMasterKey.from_text(generate_master_key())
    first = await Keyring.open(key_store, kek, active_check_seconds=0)
    second = await Keyring.open(key_store, kek, active_check_seconds=0)
    new_id = await second.rotate_data_key()
    assert first.data_key_id(await first.encrypt(b"v", b"ctx")) == new_id


async def test_nodes_opening_an_empty_store_at_once_share_one_data_key(
    db: Database, key_store: SqlDataKeyStore
) -> None:
    kek = LocalMasterKey.from_text(generate_master_key())
    first, second = await asyncio.gather(Keyring.open(key_store, kek), Keyring.open(key_store, kek))
    assert len(await key_store.data_keys()) == 1
    assert await second.decrypt(await first.encrypt(b"shared", b"ctx"), b"ctx") == b"shared"


# --- master keys --------------------------------------------------------------------------------------


async def test_wrong_master_key_is_a_clear_error_at_open(
    keyring: Keyring, key_store: SqlDataKeyStore
) -> None:
    text_key = generate_master_key()
    with pytest.raises(KeyStoreError) as caught:
        await Keyring.open(key_store, LocalMasterKey.from_text(text_key))
    message = caught.value.message
    assert "is not the one this store's data keys are wrapped by" in message
    assert keyring.kek_id in message
    assert text_key not in message


async def test_master_key_rotation_without_downtime(
    store: SqlSecretStore, db: Database, keyring: Keyring, key_store: SqlDataKeyStore, old_key: LocalMasterKey
) -> None:
    await store.put("before", PLAINTEXT, purpose="client-secret")
    await keyring.rotate_data_key()
    await store.put("after", b"second data key", purpose="client-secret")
    new_key = LocalMasterKey.from_text(generate_master_key())

    assert await keyring.rewrap(new_key) == 2
    assert await keyring.rewrap(new_key) == 0  # idempotent
    on_new = SqlSecretStore(db, await Keyring.open(key_store, new_key))
    on_old = SqlSecretStore(db, await Keyring.open(key_store, old_key))
    for node in (on_new, on_old):
        assert await node.get("before") == PLAINTEXT
        assert await node.get("after") == b"second data key"
    await on_old.put("written-by-old-node", b"old", purpose="client-secret")
    assert await on_new.get("written-by-old-node") == b"old"
    with pytest.raises(KeyStoreError, match="rotation is in progress"):
        await keyring.rotate_data_key()

    new_keyring = await Keyring.open(key_store, new_key)
    with pytest.raises(KeyStoreError, match="it is the master key this node is configured with"):
        await new_keyring.retire(new_key.key_id)
    assert await new_keyring.retire(old_key.key_id) == 2
    with pytest.raises(KeyStoreError, match="No data key is wrapped by"):
        await new_keyring.retire(old_key.key_id)

    with pytest.raises(KeyStoreError, match="is not the one"):
        await Keyring.open(key_store, old_key)
    fresh = SqlSecretStore(db, await Keyring.open(key_store, new_key))
    assert await fresh.get("before") == PLAINTEXT
    assert await on_new.get("written-by-old-node") == b"old"
    async with db.connect() as connection:
        keks = set((await connection.execute(select(data_key_wraps.c.kek_id))).scalars())
    assert keks == {new_key.key_id}


async def test_the_only_master_key_of_a_data_key_cannot_be_retired(
    keyring: Keyring, key_store: SqlDataKeyStore, old_key: LocalMasterKey
) -> None:
    with pytest.raises(KeyStoreError, match="wrapped by it alone"):
        await key_store.remove_wraps(old_key.key_id)
    assert len((await key_store.data_keys())[0].wraps) == 1


async def test_a_swapped_wrap_does_not_unwrap(
    keyring: Keyring, key_store: SqlDataKeyStore, db: Database, old_key: LocalMasterKey
) -> None:
    await keyring.rotate_data_key()
    first, second = await key_store.data_keys()
    async with db.begin() as connection:
        await connection.execute(
            update(data_key_wraps)
            .where(data_key_wraps.c.data_key_id == second.id)
            .values(wrapped=first.wraps[old_key.key_id])
        )
    with pytest.raises(KeyStoreError, match="does not unwrap"):
        await Keyring.open(key_store, old_key)


# --- failures -----------------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_unreachable_postgresql_is_a_quick_storage_error_without_the_password() -> None:
    url = "postgresql+asyncpg://phigate:Sup3r-s3cret-pw@127.0.0.1:1/phigate"
    with pytest.raises(StorageError) as caught:
        await asyncio.wait_for(open_database(url, connect_timeout=3), timeout=10)
    message = str(caught.value)
    assert "cannot be reached" in message
    assert "Sup3r-s3cret-pw" not in message
    assert "127.0.0.1" not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


@pytest.mark.postgres
async def test_a_missing_postgresql_database_is_a_storage_error() -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/phigate_absent_{secrets.token_hex(4)}"
    with pytest.raises(StorageError, match="does not exist"):
        await open_database(url)
