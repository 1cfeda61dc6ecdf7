"""``phigate launch create`` end to end: a real config and SQLite store, the Typer app, the audit trail."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from fixtures.cli import cli, write_config
from phigate.adapters.sql import open_database
from phigate.adapters.sql.audit import AuditQuery, SqlAuditStore


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, 'oauth: {issuer: "https://gw.example"}\n')


def test_launch_create_stores_a_sealed_single_use_context_and_audits_it(config: Path) -> None:
    assert cli(config, "vendor", "add", "Chart Inc", "--id", "chart").exit_code == 0
    app_options = ("--vendor", "chart", "--name", "Chart", "--scopes", "openid launch patient/*.rs")
    registered = cli(config, "user", "register-app", "chart-app", *app_options,
                     "--redirect-uri", "https://chart.example/cb")  # fmt: skip
    assert registered.exit_code == 0, registered.output

    made = cli(config, "launch", "create", "chart-app", "--patient", "pat-0003", "--json")
    assert made.exit_code == 0, made.output
    launch = json.loads(made.stdout)
    assert launch["iss"] == "https://gw.example/fhir" and launch["client_id"] == "chart-app"

    async def stored() -> tuple[bytes, list[str]]:
        db = await open_database(f"sqlite+aiosqlite:///{config.parent / 'phigate.db'}")
        try:
            async with db.connect() as connection:
                raw = (await connection.exec_driver_sql("SELECT context FROM people_launches")).scalar_one()
            events = await SqlAuditStore(db).search(AuditQuery(client_id="chart-app"))
            return raw, [e.event["action"] for e in events]
        finally:
            await db.close()

    sealed, actions = asyncio.run(stored())
    assert b"pat-0003" not in sealed  # the patient is sealed at rest
    assert actions == ["launch.created"]

    unknown = cli(config, "launch", "create", "no-such-app", "--patient", "pat-0003")
    assert unknown.exit_code == 1 and "client_id:" in unknown.stderr
    bad_patient = cli(config, "launch", "create", "chart-app", "--patient", "../Patient")
    assert bad_patient.exit_code == 1 and "patient:" in bad_patient.stderr
