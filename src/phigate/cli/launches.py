"""``phigate launch``: start an EHR launch (SMART App Launch) for an app, a patient and a person.

Prints the ``launch`` value and ``iss`` to open the app with; the value is a
credential for the context, valid for ``people.launch_seconds`` and for one
authorization only. The EHR's own integration uses the admin API
(``POST /admin/launches``); this command is for operators and tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.adapters.sql.launches import SqlLaunches
from phigate.adapters.sql.people import SqlApps, SqlUsers
from phigate.admin.vendor_audit import store_sink
from phigate.cli.output import emit
from phigate.cli.store import migrated_database, open_keyring, run_with_settings
from phigate.oauth.endpoints import Endpoints
from phigate.oauth.smart.ehr_launch import EhrLaunches
from phigate.settings import ResolvedSettings

launch_app = typer.Typer(no_args_is_help=True, help="EHR launches of apps that people use.")
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The phigate.yaml to use.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@launch_app.command("create")
def create(
    client_id: Annotated[str, typer.Argument(help="The app's client id (registered with register-app).")],
    patient: Annotated[str, typer.Option(help="The id of the Patient the app opens on.")],
    encounter: Annotated[str | None, typer.Option(help="The id of the Encounter in context.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this person (username) may complete it.")] = None,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Start an EHR launch; prints the launch value and iss for the app's launch URL."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with migrated_database(resolved) as db:
            keyring = await open_keyring(db, resolved)
            launches = EhrLaunches(
                SqlClientRegistry(db), SqlApps(db), SqlUsers(db, keyring), SqlLaunches(db, keyring),
                Endpoints.of(resolved.settings), resolved.settings.people.launch_seconds,
                await store_sink(db, keyring),
            )  # fmt: skip
            return await launches.start(client_id, patient, encounter=encounter, username=user, actor="cli")

    emit(run_with_settings(config, work), as_json, _render)


def _render(made: dict[str, Any]) -> str:
    return (
        f"launch {made['launch']}\niss {made['iss']}\n"
        f"open the app's launch URL with ?iss=...&launch=... within {made['expires_in']} s (one use)"
    )
