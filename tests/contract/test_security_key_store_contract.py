"""Stored WebAuthn credentials (the security-key part of UserStore): one contract, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from phigate.adapters.kms import Keyring, LocalMasterKey, generate_master_key
from phigate.adapters.sql import SqlDataKeyStore, open_database
from phigate.adapters.sql.people import SqlUsers
from phigate.people.passwords import hash_password
from phigate.people.roles import Role
from phigate.people.security_keys import SecurityKey
from phigate.people.users import User

NOW = datetime(2026, 1, 1, tzinfo=UTC)
HASH = hash_password("a password for the store tests")


@pytest.fixture
async def users(storage_url: str) -> AsyncIterator[SqlUsers]:
    db = await open_database(storage_url)
    await db.migrate()
    keyring = await Keyring.open(SqlDataKeyStore(db), LocalMasterKey.from_text(generate_master_key()))
    yield SqlUsers(db, keyring)
    await db.close()


async def person(users: SqlUsers, username: str) -> User:
    user = User(user_id=secrets.token_hex(8), username=username, display_name=username, role=Role.admin,
                password_hash=HASH, created_at=NOW, updated_at=NOW)  # fmt: skip
    await users.add(user)
    return user


def key(user: User, name: str, created: datetime = NOW, sign_count: int = 0) -> SecurityKey:
    return SecurityKey(credential_id=secrets.token_urlsafe(32), user_id=user.user_id, name=name,
                       public_key=b"\xa5cose", sign_count=sign_count, created_at=created,
                       transports=("nfc", "usb"))  # fmt: skip


async def test_keys_belong_to_one_user_and_are_listed_oldest_first(users: SqlUsers) -> None:
    alice, bob = await person(users, "alice"), await person(users, "bob")
    newer, older = key(alice, "Phone", NOW + timedelta(days=1)), key(alice, "Desk key")
    assert await users.add_security_key(newer) and await users.add_security_key(older)
    assert [k.name for k in await users.security_keys(alice.user_id)] == ["Desk key", "Phone"]
    assert await users.security_keys(bob.user_id) == []
    assert await users.security_key(alice.user_id, older.credential_id) == older  # round trip, bytes included
    assert await users.security_key(bob.user_id, older.credential_id) is None  # another person's key
    assert await users.security_key(alice.user_id, "unknown") is None
    stolen = SecurityKey(**{**older.__dict__, "user_id": bob.user_id})
    assert not await users.add_security_key(stolen)  # a credential id is never bound to a second user
    assert await users.security_key(bob.user_id, older.credential_id) is None


async def test_the_counter_only_moves_forward_once_per_value_even_concurrently(users: SqlUsers) -> None:
    alice = await person(users, "alice")
    desk = key(alice, "Desk key", sign_count=0)
    await users.add_security_key(desk)
    when = NOW + timedelta(hours=1)
    claims = await asyncio.gather(*(users.claim_sign_count(alice.user_id, desk.credential_id, 5, when)
                                    for _ in range(8)))  # fmt: skip
    assert sorted(claims) == [False] * 7 + [True]
    assert not await users.claim_sign_count(alice.user_id, desk.credential_id, 4, when)
    assert not await users.claim_sign_count(alice.user_id, desk.credential_id, 0, when)
    assert await users.claim_sign_count(alice.user_id, desk.credential_id, 6, when)
    stored = await users.security_key(alice.user_id, desk.credential_id)
    assert stored is not None and stored.sign_count == 6 and stored.last_used_at == when
    bob = await person(users, "bob")
    assert not await users.claim_sign_count(bob.user_id, desk.credential_id, 99, when)  # not bob's key


async def test_a_key_without_a_counter_and_removal(users: SqlUsers) -> None:
    alice = await person(users, "alice")
    phone = key(alice, "Phone", sign_count=0)
    await users.add_security_key(phone)
    assert await users.claim_sign_count(alice.user_id, phone.credential_id, 0, NOW)
    assert await users.claim_sign_count(alice.user_id, phone.credential_id, 0, NOW)  # zero stays zero
    await users.add_security_key(key(alice, "Spare"))
    assert await users.remove_security_keys(alice.user_id) == 2
    assert await users.security_keys(alice.user_id) == []
