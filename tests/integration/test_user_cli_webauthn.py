"""``phigate user show`` lists a person's security keys without key material; ``reset-mfa`` removes them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from fixtures.cli import ok, write_config
from phigate.adapters.kms import Keyring, LocalMasterKey
from phigate.adapters.sql import SqlDataKeyStore, open_database
from phigate.adapters.sql.people import SqlUsers
from phigate.people.security_keys import SecurityKey

CREDENTIAL_ID = "Y3JlZGVudGlhbC1pZC1vZi10aGUtZGVzay1rZXk"
PUBLIC_KEY = b"\xa5\x01\x02\x03\x26-cose-public-key-bytes"


async def register_key(directory: Path, username: str) -> None:
    """What the enrolment page stores after a registration ceremony (tested in test_people_webauthn.py)."""
    db = await open_database(f"sqlite+aiosqlite:///{directory / 'phigate.db'}")
    try:
        master = LocalMasterKey.from_text((directory / "master.key").read_text().strip())
        users = SqlUsers(db, await Keyring.open(SqlDataKeyStore(db), master))
        user = await users.by_username(username)
        assert user is not None
        key = SecurityKey(credential_id=CREDENTIAL_ID, user_id=user.user_id, public_key=PUBLIC_KEY,
                          sign_count=3, name="Desk key",
                          created_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC))  # fmt: skip
        assert await users.add_security_key(key)
    finally:
        await db.close()


def test_show_lists_keys_by_name_and_reset_mfa_removes_them(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "password").write_text("a clinician passphrase for the cli\n")
    ok(config, "user", "add", "dr.cli", "--role", "clinician", "--name", "Dr Cli",
       "--fhir-user", "Practitioner/p1", "--password-file", str(tmp_path / "password"))  # fmt: skip
    assert json.loads(ok(config, "user", "show", "dr.cli", "--json").stdout)["security_keys"] == []
    asyncio.run(register_key(tmp_path, "dr.cli"))

    shown = json.loads(ok(config, "user", "show", "dr.cli", "--json").stdout)
    assert shown["security_keys"] == [
        {"name": "Desk key", "created_at": "2026-03-01T09:30:00+00:00", "last_used_at": None}
    ]
    text = ok(config, "user", "show", "dr.cli").stdout
    assert "Desk key (created 2026-03-01T09:30:00+00:00, last used never)" in text
    for output in (text, json.dumps(shown)):
        assert CREDENTIAL_ID not in output and "cose-public-key" not in output  # never key material

    reset = json.loads(ok(config, "user", "reset-mfa", "dr.cli", "--json").stdout)
    assert reset["security_keys_removed"] == 1 and reset["totp"] is False
    assert json.loads(ok(config, "user", "show", "dr.cli", "--json").stdout)["security_keys"] == []
