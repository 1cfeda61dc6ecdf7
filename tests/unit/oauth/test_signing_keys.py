"""The gateway's signing keys: first key, rotation with overlap, retirement, other nodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from phigate.adapters.kms import Keyring, LocalMasterKey, generate_master_key
from phigate.adapters.sql import Database, SqlDataKeyStore, SqlSecretStore, open_database
from phigate.adapters.sql.schema import secrets as secrets_table
from phigate.errors import KeyStoreError
from phigate.oauth.jose import TokenError, UnknownKeyError, sign_jwt, verify_jwt
from phigate.oauth.keys import PURPOSE, SigningKeys
from phigate.settings import OAuthSettings

T0 = 1_900_000_000.0
DAY = 86400
SETTINGS = OAuthSettings(signing_key_rotation_days=30, access_token_seconds=300, clock_skew_seconds=30)
GRACE = 300 + 30
DELAY = 60.0


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    await database.migrate()
    yield database
    await database.close()


@pytest.fixture
async def store(db: Database) -> SqlSecretStore:
    keyring = await Keyring.open(SqlDataKeyStore(db), LocalMasterKey.from_text(generate_master_key()))
    return SqlSecretStore(db, keyring)


def _node(store: SqlSecretStore, settings: OAuthSettings = SETTINGS) -> SigningKeys:
    return SigningKeys(store, settings, activation_delay=DELAY, min_reload_interval=5.0)


def _token(keys: SigningKeys, now: float) -> str:
    return sign_jwt({"iss": "gw", "exp": int(now) + 300}, keys.active(now), typ="at+jwt")


def _verifies(keys: SigningKeys, token: str) -> bool:
    try:
        verify_jwt(token, keys.verification_keys(), algorithms={"ES256"}, typ="at+jwt", max_bytes=8192)
    except TokenError:
        return False
    return True


def _kids(keys: SigningKeys) -> list[str]:
    return [key["kid"] for key in keys.jwks()["keys"]]


async def test_the_first_key_is_made_stored_encrypted_and_published(
    store: SqlSecretStore, db: Database
) -> None:
    keys = _node(store)
    with pytest.raises(KeyStoreError):
        keys.active(T0)
    await keys.ensure_current(T0)
    active = keys.active(T0)
    assert _kids(keys) == [active.kid] and active.alg == "ES256"
    assert all("d" not in key for key in keys.jwks()["keys"])
    assert await store.names(PURPOSE) == [f"oauth-signing-key:{active.kid}"]
    async with db.connect() as connection:
        stored = (await connection.execute(select(secrets_table.c.ciphertext))).scalar_one()
    assert active.kid.encode() not in stored and b'"d"' not in stored
    assert _verifies(keys, _token(keys, T0))
    await keys.ensure_current(T0 + 10)
    assert _kids(keys) == [active.kid]  # idempotent: no second key


async def test_rotation_overlaps_then_retires_the_old_key(store: SqlSecretStore) -> None:
    keys = _node(store)
    await keys.ensure_current(T0)
    old = keys.active(T0).kid
    old_token = _token(keys, T0)

    rotation = T0 + 30 * DAY
    await keys.ensure_current(rotation)
    new = _kids(keys)[0]
    assert new != old and _kids(keys) == [new, old]  # published ahead of use
    assert keys.active(rotation).kid == old  # pending: not signing yet
    await keys.ensure_current(rotation + 1)
    assert len(_kids(keys)) == 2  # a pending key is not rotated again

    switch = rotation + DELAY
    await keys.ensure_current(switch)
    assert keys.active(switch).kid == new
    assert _verifies(keys, old_token) and _verifies(keys, _token(keys, switch))

    await keys.ensure_current(switch + GRACE - 1)
    assert _kids(keys) == [new, old]  # a token the old key signed may still be valid
    await keys.ensure_current(switch + GRACE)
    assert _kids(keys) == [new]
    assert await store.names(PURPOSE) == [f"oauth-signing-key:{new}"]
    with pytest.raises(UnknownKeyError):
        verify_jwt(old_token, keys.verification_keys(), algorithms={"ES256"}, typ="at+jwt", max_bytes=8192)


async def test_a_key_made_by_another_node_appears_after_reload(store: SqlSecretStore) -> None:
    first, second = _node(store), _node(store)
    await first.ensure_current(T0)
    await second.ensure_current(T0 + 1)
    assert _kids(second) == _kids(first)  # the second node adopts the key, makes none

    await first.ensure_current(T0 + 30 * DAY)  # first node rotates
    assert len(_kids(first)) == 2 and len(_kids(second)) == 1
    await second.reload(T0 + 30 * DAY + 10)
    assert _kids(second) == _kids(first)
    switch = T0 + 30 * DAY + DELAY
    assert first.active(switch).kid == second.active(switch).kid == _kids(first)[0]
    assert _verifies(second, _token(first, switch))


async def test_an_unknown_kid_reloads_at_most_once_per_interval(store: SqlSecretStore) -> None:
    first, second = _node(store), _node(store)
    await second.ensure_current(T0)
    await first.reload(T0)
    await second.ensure_current(T0 + 30 * DAY)
    new = _kids(second)[0]
    assert not await first.reload_for_unknown("made-up", T0 + 1)  # too soon after the last reload
    assert await first.reload_for_unknown(new, T0 + 6)
    assert not await first.reload_for_unknown("made-up-2", T0 + 7)


async def test_keys_survive_a_restart(store: SqlSecretStore) -> None:
    keys = _node(store)
    await keys.ensure_current(T0)
    token = _token(keys, T0)
    restarted = _node(store)
    await restarted.ensure_current(T0 + 100)
    assert restarted.active(T0 + 100).kid == keys.active(T0).kid
    assert _verifies(restarted, token)


class RacingStore:
    """The real store, but the first two ``names`` calls return together: two nodes racing."""

    def __init__(self, store: SqlSecretStore) -> None:
        self._store = store
        self._arrived = 0
        self._both = asyncio.Event()

    async def names(self, purpose: str | None = None) -> list[str]:
        names = await self._store.names(purpose)
        self._arrived += 1
        if self._arrived >= 2:
            self._both.set()
        await asyncio.wait_for(self._both.wait(), timeout=5)
        return names

    async def put(self, name: str, value: bytes, *, purpose: str) -> None:
        await self._store.put(name, value, purpose=purpose)

    async def get(self, name: str) -> bytes | None:
        return await self._store.get(name)

    async def delete(self, name: str) -> bool:
        return await self._store.delete(name)


async def test_concurrent_first_keys_converge_on_one_active_key(store: SqlSecretStore) -> None:
    racing = RacingStore(store)
    first, second = SigningKeys(racing, SETTINGS), SigningKeys(racing, SETTINGS)
    # Both see an empty store, so both make a first key at the same instant.
    await asyncio.gather(first.ensure_current(T0), second.ensure_current(T0))
    await first.reload(T0 + 1)
    await second.reload(T0 + 1)
    assert len(_kids(first)) == 2 and _kids(first) == _kids(second)
    assert first.active(T0 + 1).kid == second.active(T0 + 1).kid
    await first.ensure_current(T0 + GRACE)
    await second.ensure_current(T0 + GRACE)
    assert _kids(first) == _kids(second) and len(_kids(first)) == 1


async def test_changing_the_algorithm_rotates_to_a_key_of_the_new_algorithm(store: SqlSecretStore) -> None:
    keys = _node(store)
    await keys.ensure_current(T0)
    changed = _node(store, OAuthSettings(signing_algorithm="PS256"))
    await changed.ensure_current(T0 + 10)
    assert changed.active(T0 + 10).alg == "ES256"
    assert changed.active(T0 + 10 + DELAY).alg == "PS256"


async def test_a_corrupt_stored_key_is_a_key_store_error(store: SqlSecretStore) -> None:
    await store.put("oauth-signing-key:broken", b'{"jwk": {"kty": "EC"}}', purpose=PURPOSE)
    with pytest.raises(KeyStoreError):
        await _node(store).ensure_current(T0)
