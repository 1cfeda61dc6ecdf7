"""``phigate vendor subprocessor`` (A.4) and ``offboard`` (A.11): the use cases are in
phigate.admin.vendor_lifecycle.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from phigate.adapters.sql import Database
from phigate.admin.vendor_lifecycle import (
    Notify,
    attestation_of_file,
    decide_subprocessor,
    offboard,
    propose_subprocessor,
    subprocessor_view,
)
from phigate.cli.inputs import day
from phigate.cli.notices import cli_sender
from phigate.cli.output import emit, table
from phigate.cli.store import ConfigOption, JsonOption, open_keyring, run_with_settings
from phigate.cli.vendor_registry import VendorArg, actor, require_registered, risk_registry, standing_of
from phigate.errors import PhigateError
from phigate.monitor.detectors import Alert
from phigate.settings import ResolvedSettings
from phigate.types import VendorId
from phigate.vendors.dossier import Dossier
from phigate.vendors.records import RegistrationError, check_vendor_id

subprocessor_app = typer.Typer(no_args_is_help=True, help="Sub-processors and their pending changes (A.4).")
ChangeArg = Annotated[str, typer.Argument(help="The change id (see `phigate vendor subprocessor list`).")]


def lifecycle_view(dossier: Dossier) -> dict[str, Any]:
    off = dossier.offboarding
    offboarding = None if off is None else {
        "attestation": off.id, "disposition": off.disposition.value, "signed_by": off.signed_by,
        "signed_on": off.signed_on.isoformat(), "recorded_at": off.recorded_at.isoformat(),
        "file_sha256": off.document.sha256,
    }  # fmt: skip
    return {
        "subprocessors": [subprocessor_view(s) for s in dossier.subprocessors],
        "offboarding": offboarding,
    }


async def controller_notice(resolved: ResolvedSettings, db: Database) -> tuple[Notify, list[str]]:
    """The alert sinks of ``audit.*``, awaited; a failure is collected, not raised: the change stands."""
    keyring = await open_keyring(db, resolved)
    send, failed = await cli_sender(resolved, db, keyring), []

    async def notify(alert: Alert) -> None:
        try:
            await send(alert)
        except PhigateError as exc:
            failed.append(exc.message)

    return notify, failed


@subprocessor_app.command("add")
def subprocessor_add(
    vendor_id: VendorArg,
    name: Annotated[str, typer.Option(help="The sub-processor's name.")],
    service: Annotated[str, typer.Option(help="What it does for the vendor.")],
    data_category: Annotated[list[str], typer.Option(help="Data it receives, such as lab-results (repeat).")],
    location: Annotated[list[str], typer.Option(help="Where it processes data: US, DE, EU... (repeat).")],
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Propose a sub-processor (or new terms for a listed one): the controller is notified, the objection
    window opens, and the vendor is pending_review (access held as it is) until approved or objected to."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with risk_registry(resolved) as (db, risk):
            notify, failed = await controller_notice(resolved, db)
            item = await propose_subprocessor(
                risk, resolved.settings.vendors, notify, vendor_id, name=name, service=service,
                data_categories=tuple(data_category), locations=tuple(location), actor=actor(),
                now=datetime.now(UTC),
            )  # fmt: skip
            posture = await standing_of(risk, resolved.settings.vendors, item.vendor_id)
        return {**subprocessor_view(item), "standing": posture.standing.value, "notice_failed": failed}

    def render(v: dict[str, Any]) -> str:
        window = f"objection window ends {v['objection_until']}"
        return f"{v['id']}: {v['name']} {v['change']}, pending approval ({window}); standing {v['standing']}"

    view = run_with_settings(config, work)
    emit(view, as_json, render)
    for reason in view["notice_failed"]:
        typer.echo(f"phigate: warning: the controller was not notified: {reason}", err=True)


@subprocessor_app.command("list")
def subprocessor_list(
    vendor_id: VendorArg, config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False
) -> None:
    """The vendor's sub-processors and every change to them."""

    async def work(resolved: ResolvedSettings) -> list[dict[str, Any]]:
        async with risk_registry(resolved) as (_, risk):
            await require_registered(risk, check_vendor_id(vendor_id))
            return [subprocessor_view(item) for item in await risk.subprocessors.list(VendorId(vendor_id))]

    columns = ("id", "status", "change", "name", "service", "locations", "objection_until")
    emit(run_with_settings(config, work), as_json, table(columns))


def _decide(vendor_id: str, change_id: str, approve: bool, reason: str, config: Path, as_json: bool) -> None:
    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with risk_registry(resolved) as (_, risk):
            item = await decide_subprocessor(risk, vendor_id, change_id, approve=approve, actor=actor(),
                                             now=datetime.now(UTC), reason=reason)  # fmt: skip
            posture = await standing_of(risk, resolved.settings.vendors, item.vendor_id)
        return {**subprocessor_view(item), "standing": posture.standing.value}

    emit(run_with_settings(config, work), as_json,
         lambda v: f"{v['id']} {v['status']}; vendor {v['vendor_id']} standing {v['standing']}")  # fmt: skip


@subprocessor_app.command("approve")
def subprocessor_approve(
    vendor_id: VendorArg, change_id: ChangeArg, config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Approve a pending change: its terms go on the list and the hold on access is lifted."""
    _decide(vendor_id, change_id, True, "", config, as_json)


@subprocessor_app.command("object")
def subprocessor_object(
    vendor_id: VendorArg, change_id: ChangeArg,
    reason: Annotated[str, typer.Option(help="Why the controller objects (kept in the registry).")],
    config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Object to a pending change: the vendor may not engage the sub-processor on those terms."""
    _decide(vendor_id, change_id, False, reason, config, as_json)


def offboard_vendor(
    vendor_id: VendorArg,
    attestation: Annotated[Path | None, typer.Option(help="The signed return-or-destroy file.")] = None,
    disposition: Annotated[str, typer.Option(help="returned, destroyed or both.")] = "destroyed",
    signed_by: Annotated[str, typer.Option(help="Who signed it for the vendor (name, role).")] = "",
    signed_on: Annotated[str | None, typer.Option(help="When it was signed (default: today).")] = None,
    reason: Annotated[str, typer.Option(help="Why the relationship ends (registry only).")] = "",
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Terminate the vendor (final): refused without the attestation; its tokens are revoked, its clients
    disabled and its agreements ended at once."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        now = datetime.now(UTC)
        try:
            content = attestation.read_bytes() if attestation is not None else None
        except OSError as exc:
            raise RegistrationError("attestation", f"cannot be read ({exc.strerror})") from None
        chosen = "returned_and_destroyed" if disposition == "both" else disposition
        signed = attestation_of_file(
            check_vendor_id(vendor_id), disposition=chosen, signed_by=signed_by,
            signed_on=day(signed_on, "signed_on") or now.date(), file_name=attestation.name, content=content,
            reason=reason, now=now,
        ) if attestation is not None and content is not None else None  # fmt: skip
        async with risk_registry(resolved) as (_, risk):
            return await offboard(risk, vendor_id, signed, content, actor())

    emit(run_with_settings(config, work), as_json,
         lambda v: f"vendor {v['id']} terminated ({v['attestation']}, sha256 {v['file_sha256'][:12]}…): "
                   f"{v['clients_disabled']} client(s) disabled, tokens revoked")  # fmt: skip
