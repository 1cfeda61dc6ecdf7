"""Retention with legal hold: `phigate audit hold` and `phigate audit purge`, and `audit verify` after.

A purge removes what retention allows (older than six years) except events under
a hold, signs a purge mark per chain, and `verify` still passes, while removing
a held event or one after the mark is still named.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import orjson
import pytest
from typer.testing import Result

from fixtures.cli import cli, write_config
from phigate.adapters.kms import Keyring, master_key_from_settings
from phigate.adapters.kms.signing import CheckpointKeys
from phigate.adapters.sql import SqlDataKeyStore, SqlSecretStore
from phigate.adapters.sql.audit import SqlAuditStore
from phigate.audit.chain import Chain, Checkpoint, checkpoint_message
from phigate.audit.events import AuditEvent, Kind
from phigate.cli.store import migrated_database
from phigate.settings import load_settings

OLD = 1_514_764_800.0  # 2018-01-01: older than six years


def audit(config: Path, *args: str) -> Result:
    """``phigate audit *args`` on the config."""
    return cli(config, "audit", *args)


async def seed(config: Path) -> dict[str, tuple[int, str]]:
    """gw-1: events 1-6 old (2 discloses pat-held, 4 is client-held's), 7-10 recent; gw-2: 3 old events."""
    resolved = load_settings(config)
    async with migrated_database(resolved) as db:
        keyring = await Keyring.open(SqlDataKeyStore(db), master_key_from_settings(resolved))
        key = (await CheckpointKeys.load(SqlSecretStore(db, keyring), create=True)).signing
        assert key is not None
        store = SqlAuditStore(db)
        now = time.time()
        for node, times in (
            ("gw-1", [OLD + i for i in range(6)] + [now - 60 + i for i in range(4)]),
            ("gw-2", [OLD + 100 + i for i in range(3)]),
        ):
            chain = Chain(node)
            for i, recorded in enumerate(times, start=1):
                patients = ("pat-held",) if (node, i) == ("gw-1", 2) else (f"pat-{i}",)
                client = "client-held" if (node, i) == ("gw-1", 4) else "app-1"
                event = AuditEvent(
                    Kind.exchange, "read", recorded, client_id=client, status=200, patients=patients
                )
                await store.store([chain.append(event.record())])
                if i in (3, len(times)):  # one checkpoint in the purged part, one at the head
                    message = checkpoint_message(node, chain.seq, chain.head, recorded)
                    await store.add_checkpoint(
                        Checkpoint(node, chain.seq, chain.head, recorded, key.key_id, key.sign(message))
                    )
        return {node: await store.head(node) for node in ("gw-1", "gw-2")}


def remaining(db: Path, node: str) -> list[int]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT seq FROM audit_events WHERE node = ? ORDER BY seq", (node,))
        return [int(r[0]) for r in rows]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def test_purge_keeps_held_events_and_verify_still_passes(config: Path) -> None:
    heads = asyncio.run(seed(config))
    database = config.parent / "phigate.db"
    assert (
        audit(config, "hold", "add", "--patient", "pat-held", "--reason", "litigation 2026-17").exit_code == 0
    )
    added = audit(
        config,
        "hold",
        "add",
        "--client",
        "client-held",
        "--since",
        "2017-06-01",
        "--until",
        "2019-01-01",
        "--reason",
        "subpoena",
        "--json",
    )
    assert added.exit_code == 0, added.output
    holds = orjson.loads(audit(config, "hold", "list", "--json").output)
    assert [(h["patient"], h["client"]) for h in holds] == [("pat-held", None), (None, "client-held")]

    refused = audit(config, "purge", "--before", "2025-01-01")
    assert refused.exit_code != 0 and "retention_days" in refused.output

    purged = audit(config, "purge", "--json")
    assert purged.exit_code == 0, purged.output
    assert orjson.loads(purged.output) | {"cutoff": None} == {
        "cutoff": None,
        "removed": 7,
        "held": 2,
        "nodes": ["gw-1", "gw-2"],
    }
    assert remaining(database, "gw-1") == [2, 4, 7, 8, 9, 10]
    assert remaining(database, "gw-2") == []
    verdict = orjson.loads(audit(config, "verify", "--json").output)
    assert verdict["valid"], verdict["findings"]

    # A node whose events were all purged picks its chain up after the mark, not from #1.
    assert asyncio.run(head(config, "gw-2")) == heads["gw-2"]

    # The purged parts' checkpoint and the purge's own audit events do not upset verify; a held
    # event removed by hand is named, so is one removed after the chain's new start.
    assert audit(config, "search", "--kind", "security", "--json").output.count("audit.purged") == 1
    with sqlite3.connect(database) as connection:
        connection.execute("DELETE FROM audit_events WHERE node = 'gw-1' AND seq = 2")
    verdict = orjson.loads(audit(config, "verify", "--json").output)
    assert [f["text"] for f in verdict["findings"]] == [
        "node gw-1 event #2: removed (purge mark #6 kept it under a legal hold)"
    ]


def test_removing_a_hold_lets_the_next_purge_remove_its_events(config: Path) -> None:
    asyncio.run(seed(config))
    database = config.parent / "phigate.db"
    audit(config, "hold", "add", "--patient", "pat-held", "--reason", "litigation")
    assert audit(config, "purge").exit_code == 0
    assert remaining(database, "gw-1") == [2, 7, 8, 9, 10]
    assert audit(config, "hold", "remove", "1", "--reason", "case closed").exit_code == 0
    assert audit(config, "hold", "remove", "1", "--reason", "again").exit_code != 0
    assert orjson.loads(audit(config, "hold", "list", "--json").output) == []
    assert audit(config, "purge").exit_code == 0
    assert remaining(database, "gw-1") == [7, 8, 9, 10]
    verdict = orjson.loads(audit(config, "verify", "--json").output)
    assert verdict["valid"], verdict["findings"]
    with sqlite3.connect(database) as connection:
        connection.execute("DELETE FROM audit_events WHERE node = 'gw-1' AND seq = 7")
    verdict = orjson.loads(audit(config, "verify", "--json").output)
    assert verdict["findings"][0]["text"].startswith("node gw-1 event #7: removed")


def test_a_forged_purge_mark_is_named(config: Path) -> None:
    asyncio.run(seed(config))
    assert audit(config, "purge").exit_code == 0
    with sqlite3.connect(config.parent / "phigate.db") as connection:
        connection.execute(
            "UPDATE audit_purges SET seq = seq + 2 WHERE node = 'gw-1'"
        )  # hide two more events
    verdict = orjson.loads(audit(config, "verify", "--json").output)
    assert not verdict["valid"]
    assert "node gw-1 event #8: bad-purge" in [f["text"].split(" (")[0] for f in verdict["findings"]]


async def head(config: Path, node: str) -> tuple[int, str]:
    async with migrated_database(load_settings(config)) as db:
        return await SqlAuditStore(db).head(node)
