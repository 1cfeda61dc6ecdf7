"""``phigate keys`` end to end: a real config file, a real SQLite store, the Typer app."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import Result

from fixtures.cli import phigate, refused, write_config
from phigate.adapters.kms import Keyring, LocalMasterKey
from phigate.adapters.sql import SqlDataKeyStore, SqlSecretStore, open_database


def _keys(*args: str) -> Result:
    return phigate("keys", *args)


def _json(result: Result) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(result.stdout)
    return parsed


async def _migrate(url: str) -> None:
    db = await open_database(url)
    await db.migrate()
    await db.close()


async def _secret(url: str, key_text: str, put: bytes | None = None) -> bytes | None:
    db = await open_database(url)
    try:
        kek = LocalMasterKey.from_text(key_text)
        store = SqlSecretStore(db, await Keyring.open(SqlDataKeyStore(db), kek))
        if put is not None:
            await store.put("client/lab-1", put, purpose="client-secret")
        return await store.get("client/lab-1")
    finally:
        await db.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    assert _keys("new-master-key", "--out", str(tmp_path / "old.key")).exit_code == 0
    assert _keys("new-master-key", "--out", str(tmp_path / "new.key")).exit_code == 0
    return tmp_path


def test_new_master_key_writes_a_private_file_and_never_overwrites(workdir: Path) -> None:
    key_file = workdir / "old.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    text = key_file.read_text(encoding="utf-8")
    LocalMasterKey.from_text(text)  # a valid key
    result = _keys("new-master-key", "--out", str(key_file))
    refused(result, "cannot create")
    assert key_file.read_text(encoding="utf-8") == text
    assert text.strip() not in result.output


def test_master_key_rotation_through_the_cli(workdir: Path) -> None:
    old_config = write_config(workdir, name="old.yaml", master_key="{file: old.key}")
    new_config = write_config(workdir, name="new.yaml", master_key="{file: new.key}")
    url = f"sqlite+aiosqlite:///{workdir / 'phigate.db'}"
    old_id = LocalMasterKey.from_text((workdir / "old.key").read_text()).key_id
    new_id = LocalMasterKey.from_text((workdir / "new.key").read_text()).key_id

    refused(_keys("status", "--config", str(old_config)), "no phigate schema yet")
    asyncio.run(_migrate(url))
    empty = _json(_keys("status", "--json", "--config", str(old_config)))
    assert empty == {"configured_kek_id": old_id, "kek_ids": [], "data_keys": [], "problem": None}

    assert asyncio.run(_secret(url, (workdir / "old.key").read_text(), put=b"s3cret")) == b"s3cret"
    rotated = _keys("rotate-data-key", "--config", str(old_config))
    assert rotated.exit_code == 0, rotated.output
    result = _keys("rotate", "--config", str(old_config), "--new-master-key-file", str(workdir / "new.key"))
    assert result.exit_code == 0, result.output
    assert f"wrapped 2 data key(s) under {new_id}" in result.stdout
    assert f"phigate keys retire --kek-id {old_id}" in result.stdout

    during = _json(_keys("status", "--json", "--config", str(new_config)))
    assert during["kek_ids"] == sorted([old_id, new_id])
    assert isinstance(during["data_keys"], list)
    assert [k["kek_ids"] for k in during["data_keys"]] == [sorted([old_id, new_id])] * 2
    assert [k["active"] for k in during["data_keys"]] == [False, True]
    refused(_keys("rotate-data-key", "--config", str(new_config)), "rotation is in progress")

    retired = _keys("retire", "--kek-id", old_id, "--config", str(new_config))
    assert retired.exit_code == 0, retired.output
    assert f"removed 2 wrap(s) of {old_id}" in retired.stdout
    after = _keys("status", "--json", "--config", str(old_config))
    refused(after, "is not the one this store's data keys are wrapped by")
    assert _json(after)["kek_ids"] == [new_id]
    assert asyncio.run(_secret(url, (workdir / "new.key").read_text())) == b"s3cret"

    human = _keys("status", "--config", str(new_config))
    assert human.exit_code == 0
    assert f"configured master key: {new_id} (opens every data key)" in human.stdout
    for key_file in ("old.key", "new.key"):
        assert (workdir / key_file).read_text().strip() not in human.output + after.output


def test_cli_failures_are_one_line_reasons(workdir: Path) -> None:
    config = write_config(workdir, name="phigate.yaml", master_key="{file: old.key}")
    refused(_keys("status", "--config", str(workdir / "absent.yaml")), "cannot be read")
    refused(_keys("rotate", "--config", str(config)), "give exactly one of --new-master-key-file")
    refused(
        _keys("rotate", "--config", str(config), "--new-master-key-env", "PHIGATE_TEST_UNSET_VARIABLE"),
        "--new-master-key-env: environment variable PHIGATE_TEST_UNSET_VARIABLE is not set",
    )
    (workdir / "short.key").write_text("c2hvcnQ=")
    refused(
        _keys("rotate", "--config", str(config), "--new-master-key-file", str(workdir / "short.key")),
        "--new-master-key-file: the master key is 5 bytes",
    )
    plugin = write_config(workdir, name="plugin.yaml", master_key="{plugin: vault}")
    refused(_keys("status", "--config", str(plugin)), "master_key.plugin: unknown KMS plugin 'vault'")
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{workdir / 'phigate.db'}"))
    refused(_keys("retire", "--kek-id", "kek-0000", "--config", str(config)), "No data key is wrapped")
