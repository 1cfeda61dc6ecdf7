"""WebAuthn ceremonies (the relying party's side) against a software authenticator and a real SQLite store."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fixtures.redis_server import RedisServer
from fixtures.webauthn_authenticator import SoftwareAuthenticator
from phigate.adapters.kms import Keyring, LocalMasterKey, generate_master_key
from phigate.adapters.memory import MemoryReplayCache
from phigate.adapters.memory_counters import MemoryAttemptCounters
from phigate.adapters.shared_state import open_shared_state
from phigate.adapters.sql import Database, SqlDataKeyStore, open_database
from phigate.adapters.sql.people import SqlSessions, SqlUsers
from phigate.errors import ConfigError
from phigate.oauth.jose import KeySet, PrivateKey, generate_key, load_private_key
from phigate.oauth.mfa import totp
from phigate.oauth.mfa.webauthn import KeyResponse, KeyVerdict, RelyingParty, SecurityKeys
from phigate.oauth.signin import Outcome, SignIn
from phigate.people.access import RolePolicy
from phigate.people.attempts import AttemptPolicy
from phigate.people.errors import UserError
from phigate.people.passwords import hash_password
from phigate.people.roles import Role
from phigate.people.security_keys import DEFAULT_NAME, counter_moved, key_name
from phigate.people.sessions import SessionPolicy
from phigate.people.users import User
from phigate.settings import parse_settings
from phigate.settings.people import PeopleSettings

ORIGIN = "https://gw.example.org"
PARTY = RelyingParty("gw.example.org", ORIGIN, "phigate")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Keys:
    def __init__(self) -> None:
        private, public = generate_key("ES256")
        self._private = load_private_key(private)
        self._public = KeySet.from_jwks({"keys": [public]})

    def active(self) -> PrivateKey:
        return self._private

    def verification_keys(self) -> KeySet:
        return self._public


def test_the_relying_party_is_the_issuer_on_a_domain_name() -> None:
    assert RelyingParty.for_issuer("https://GW.example.org:443/", "p") == RelyingParty(
        "gw.example.org", "https://gw.example.org", "p"
    )
    assert RelyingParty.for_issuer("https://localhost:8443", "p") == RelyingParty(
        "localhost", "https://localhost:8443", "p"
    )
    for issuer in ("https://127.0.0.1:8443", "https://[::1]:8443", "http://gw.example.org"):
        assert RelyingParty.for_issuer(issuer, "p") is None  # browsers refuse these as RP ID / origin


def test_key_names_and_the_counter_rule() -> None:
    assert key_name("  My   YubiKey ") == "My YubiKey" and key_name("") == DEFAULT_NAME
    for bad in ("x" * 65, "tab\x00"):
        with pytest.raises(UserError):
            key_name(bad)
    assert counter_moved(0, 0) and counter_moved(0, 1) and counter_moved(5, 6)
    assert not counter_moved(5, 5) and not counter_moved(5, 4) and not counter_moved(5, 0)


def test_webauthn_settings_name_their_key_path() -> None:
    raw: dict[str, Any] = {
        "environment": "dev",
        "listeners": {
            "public": {"port": 8443, "plain_http": True},
            "admin": {"port": 9443, "plain_http": True},
        },
        "upstreams": {"ehr": {"targets": [{"url": "https://ehr.example/fhir"}]}},
        "routes": [{"base": "/fhir", "upstream": "ehr"}],
        "master_key": {"env": "PHIGATE_MASTER_KEY"},
    }
    assert parse_settings(raw).people.webauthn.enabled  # on by default
    bad = {"webauthn": {"ceremony_seconds": 5, "rp_name": "", "attestation": "direct"}}
    with pytest.raises(ConfigError) as info:
        parse_settings(raw | {"people": bad})
    problems = " ".join(info.value.problems)
    for key in ("people.webauthn.ceremony_seconds", "people.webauthn.rp_name", "people.webauthn.attestation"):
        assert key in problems, problems


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'people.db'}")
    await database.migrate()
    yield database
    await database.close()


@pytest.fixture
async def users(db: Database) -> SqlUsers:
    keyring = await Keyring.open(SqlDataKeyStore(db), LocalMasterKey.from_text(generate_master_key()))
    return SqlUsers(db, keyring)


async def person(users: SqlUsers, username: str, **extra: Any) -> User:
    user = User(user_id=secrets.token_hex(8), username=username, display_name=username.title(),
                role=Role.clinician, fhir_user="Practitioner/p1", created_at=NOW, updated_at=NOW,
                password_hash=hash_password("the right one"), **extra)  # fmt: skip
    await users.add(user)
    return user


def options(ceremony_options: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(ceremony_options)
    return decoded


async def enrolled(keys: SecurityKeys, user: User, authenticator: SoftwareAuthenticator) -> None:
    flow = "flow-of-the-enrolment-page"
    ceremony = await keys.registration(user, flow, time.time())
    answer = authenticator.create(options(ceremony.options))
    checked = await keys.register(user, KeyResponse(flow, ceremony.token, answer), "Desk key", time.time())
    assert checked.verdict is KeyVerdict.accepted, checked.reason


async def test_register_then_authenticate_once_per_challenge(users: SqlUsers) -> None:
    user = await person(users, "dr.one")
    keys = SecurityKeys(PARTY, Keys(), users, MemoryReplayCache())
    authenticator = SoftwareAuthenticator(ORIGIN)
    assert await keys.authentication(user.user_id, "f", time.time()) is None  # no key yet: none offered
    await enrolled(keys, user, authenticator)
    stored = await users.security_keys(user.user_id)
    assert [(k.name, k.sign_count, k.transports) for k in stored] == [("Desk key", 0, ("usb",))]
    ceremony = await keys.authentication(user.user_id, "mfa-page", time.time())
    assert ceremony is not None
    offered = options(ceremony.options)
    assert offered["rpId"] == "gw.example.org" and offered["userVerification"] == "preferred"
    assert len(offered["challenge"]) >= 22  # at least 16 random bytes, base64url
    answer = KeyResponse("mfa-page", ceremony.token, authenticator.get(offered))
    assert (await keys.authenticate(user.user_id, answer, time.time())).verdict is KeyVerdict.accepted
    again = await keys.authenticate(user.user_id, answer, time.time())  # the same answer, replayed
    assert (again.verdict, again.reason) == (KeyVerdict.refused, "webauthn.challenge_replayed")
    used = (await users.security_keys(user.user_id))[0]
    assert used.sign_count == 1 and used.last_used_at is not None


async def test_a_ceremony_is_good_for_its_page_user_purpose_and_lifetime(users: SqlUsers) -> None:
    alice, bob = await person(users, "alice"), await person(users, "bob")
    keys = SecurityKeys(PARTY, Keys(), users, MemoryReplayCache(), seconds=60)
    authenticator = SoftwareAuthenticator(ORIGIN)
    await enrolled(keys, alice, authenticator)
    now = time.time()
    ceremony = await keys.authentication(alice.user_id, "page-1", now)
    assert ceremony is not None
    answer = authenticator.get(options(ceremony.options))
    refused = [
        (alice.user_id, KeyResponse("page-2", ceremony.token, answer), now),  # another page's flow
        (bob.user_id, KeyResponse("page-1", ceremony.token, answer), now),  # another user
        (alice.user_id, KeyResponse("page-1", ceremony.token, answer), now + 61),  # expired
        (alice.user_id, KeyResponse("page-1", "not-a-ceremony", answer), now),
    ]
    for user_id, response, when in refused:
        assert (await keys.authenticate(user_id, response, when)).verdict is KeyVerdict.refused
    registration = await keys.registration(alice, "page-1", now)  # a "create" ceremony used to sign in
    wrong_use = KeyResponse("page-1", registration.token, answer)
    assert (await keys.authenticate(alice.user_id, wrong_use, now)).reason == "webauthn.ceremony_binding"
    good = await keys.authenticate(alice.user_id, KeyResponse("page-1", ceremony.token, answer), now)
    assert good.verdict is KeyVerdict.accepted  # none of the refusals above used the challenge up


async def test_a_counter_that_goes_back_is_a_possible_clone(users: SqlUsers) -> None:
    user = await person(users, "dr.clone")
    keys = SecurityKeys(PARTY, Keys(), users, MemoryReplayCache())
    authenticator = SoftwareAuthenticator(ORIGIN)
    await enrolled(keys, user, authenticator)
    for count, verdict in ((7, KeyVerdict.accepted), (7, KeyVerdict.cloned), (3, KeyVerdict.cloned),
                           (0, KeyVerdict.cloned), (8, KeyVerdict.accepted)):  # fmt: skip
        ceremony = await keys.authentication(user.user_id, "p", time.time())
        assert ceremony is not None
        answer = authenticator.get(options(ceremony.options), sign_count=count)
        checked = await keys.authenticate(user.user_id, KeyResponse("p", ceremony.token, answer), time.time())
        assert checked.verdict is verdict, count
    assert (await users.security_keys(user.user_id))[0].sign_count == 8


async def test_an_authenticator_without_a_counter_stays_usable(users: SqlUsers) -> None:
    user = await person(users, "dr.zero")
    keys = SecurityKeys(PARTY, Keys(), users, MemoryReplayCache())
    authenticator = SoftwareAuthenticator(ORIGIN, counter=False)
    await enrolled(keys, user, authenticator)
    for _ in range(2):
        ceremony = await keys.authentication(user.user_id, "p", time.time())
        assert ceremony is not None
        answer = KeyResponse("p", ceremony.token, authenticator.get(options(ceremony.options)))
        assert (await keys.authenticate(user.user_id, answer, time.time())).verdict is KeyVerdict.accepted


async def test_sign_in_with_a_key_gives_hwk_and_a_key_enrolment_retires_the_unconfirmed_totp(
    db: Database, users: SqlUsers
) -> None:
    user = await person(users, "dr.enrol")
    keys = SecurityKeys(PARTY, Keys(), users, MemoryReplayCache())
    roles, counters = RolePolicy.from_settings(PeopleSettings()), MemoryAttemptCounters(time.time)
    service = SignIn(users, SqlSessions(db), counters, AttemptPolicy(), roles, SessionPolicy(), keys=keys)
    authenticator = SoftwareAuthenticator(ORIGIN)
    assert (await service.password("dr.enrol", "the right one", "a")).outcome is Outcome.enrol
    secret = totp.new_secret()  # shown on the enrolment page, never confirmed
    await users.set_totp(user.user_id, secret, ())
    ceremony = await keys.registration(user, "enrol-page", time.time())
    answer = KeyResponse("enrol-page", ceremony.token, authenticator.create(options(ceremony.options)))
    enrolled_now = await service.enrol_security_key(user.user_id, answer, "Key", "a")
    assert enrolled_now.outcome is Outcome.signed_in and enrolled_now.session_id
    session = await service.session(enrolled_now.session_id)
    assert session is not None and session[0].amr == ("pwd", "hwk", "mfa")
    assert (await service.password("dr.enrol", "the right one", "a")).outcome is Outcome.second_factor
    code = totp.code_at(secret, time.time())
    assert (await service.second_factor(user.user_id, code, "a")).outcome is Outcome.refused
    # A second enrolment through an old enrolment page (the password alone) is refused.
    late = await keys.registration(user, "old-enrol-page", time.time())
    other = SoftwareAuthenticator(ORIGIN).create(options(late.options))
    result = await service.enrol_security_key(user.user_id, KeyResponse("old-enrol-page", late.token, other),
                                              "Attacker's key", "b")  # fmt: skip
    assert result.outcome is Outcome.refused and len(await users.security_keys(user.user_id)) == 1


async def test_answers_for_another_origin_or_rp_id_or_with_a_bad_signature_are_refused(
    users: SqlUsers,
) -> None:
    user = await person(users, "dr.lies")
    keys = SecurityKeys(PARTY, Keys(), users, MemoryReplayCache())
    authenticator = SoftwareAuthenticator(ORIGIN)
    for lie, reason in (({"origin": "https://gw.example.org.evil.example"}, "webauthn.origin"),
                        ({"rp_id": "example.org"}, "webauthn.rp_id")):  # fmt: skip
        ceremony = await keys.registration(user, "p", time.time())
        made = authenticator.create(options(ceremony.options), **lie)
        checked = await keys.register(user, KeyResponse("p", ceremony.token, made), "Key", time.time())
        assert (checked.verdict, checked.reason) == (KeyVerdict.refused, reason)
    assert await users.security_keys(user.user_id) == []
    authenticator.credentials.clear()
    await enrolled(keys, user, authenticator)
    for lie, reason in (({"origin": "http://gw.example.org"}, "webauthn.origin"),
                        ({"rp_id": "evil.example"}, "webauthn.rp_id")):  # fmt: skip
        ceremony = await keys.authentication(user.user_id, "p", time.time())
        assert ceremony is not None
        answer = authenticator.get(options(ceremony.options), **lie)
        checked = await keys.authenticate(user.user_id, KeyResponse("p", ceremony.token, answer), time.time())
        assert (checked.verdict, checked.reason) == (KeyVerdict.refused, reason)
    ceremony = await keys.authentication(user.user_id, "p", time.time())
    assert ceremony is not None
    forged = json.loads(authenticator.get(options(ceremony.options)))
    forged["response"]["signature"] = forged["response"]["signature"][:-8] + "AAAAAAAA"
    checked = await keys.authenticate(
        user.user_id, KeyResponse("p", ceremony.token, json.dumps(forged)), time.time()
    )
    assert (checked.verdict, checked.reason) == (KeyVerdict.refused, "webauthn.signature")


async def test_a_challenge_is_single_use_across_nodes(users: SqlUsers, redis_server: RedisServer) -> None:
    nodes = [open_shared_state(redis_server.url, namespace="webauthn-test") for _ in range(2)]
    for shared in nodes:
        await shared.start()
    try:
        signing = Keys()  # the nodes share the store, the signing keys and Redis; nothing else
        node_a, node_b = (SecurityKeys(PARTY, signing, users, shared.replay_cache) for shared in nodes)
        user, authenticator = await person(users, "dr.nodes"), SoftwareAuthenticator(ORIGIN)
        await enrolled(node_a, user, authenticator)
        ceremony = await node_a.authentication(user.user_id, "p", time.time())
        assert ceremony is not None
        answer = KeyResponse("p", ceremony.token, authenticator.get(options(ceremony.options)))
        assert (await node_b.authenticate(user.user_id, answer, time.time())).verdict is KeyVerdict.accepted
        replayed = await node_a.authenticate(user.user_id, answer, time.time())
        assert (replayed.verdict, replayed.reason) == (KeyVerdict.refused, "webauthn.challenge_replayed")
    finally:
        for shared in nodes:
            await shared.close()
