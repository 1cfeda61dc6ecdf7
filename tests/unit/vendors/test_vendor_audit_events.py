"""Vendor changes and posture transitions as audit events (issue 9 on the evidence plane), without HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

from phigate.adapters.sql.vendor_evidence import VendorChange, journal, record_event
from phigate.admin.vendor_audit import change_event, posture_event
from phigate.audit.events import Kind
from phigate.settings.vendors import VendorSettings
from phigate.types import VendorId
from phigate.vendors.dossier import Dossier, Suspension
from phigate.vendors.gate import PostureGate
from phigate.vendors.posture import Posture, Standing

V = VendorId("acme")
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


class Source:
    def __init__(self, dossier: Dossier) -> None:
        self.current = dossier

    async def dossier(self, vendor_id: VendorId) -> Dossier:
        return self.current


async def test_the_gate_reports_each_change_of_standing_once() -> None:
    source = Source(Dossier(V))
    seen: list[tuple[Standing | None, Standing, tuple[str, ...]]] = []

    def observe(vendor_id: VendorId, previous: Posture | None, posture: Posture) -> None:
        assert vendor_id == V
        seen.append((previous.standing if previous else None, posture.standing, posture.reasons))

    ticks = iter(range(1000))
    aging = lambda: float(next(ticks) * 10)  # noqa: E731 - every read finds the cache aged
    rules = VendorSettings(unmanaged_vendors="allow")  # Dossier(V) has no risk record
    gate = PostureGate(source, rules, clock=NOW.timestamp, monotonic=aging, on_change=observe)
    await gate.posture(V)
    await gate.posture(V)  # reloaded (the cache aged), same standing: nothing new
    source.current = Dossier(V, suspension=Suspension("overdue questionnaire", NOW))
    await gate.posture(V)
    await gate.posture(V)
    source.current = Dossier(V)
    await gate.posture(V)
    assert [(p, n) for p, n, _ in seen] == [
        (None, Standing.approved),
        (Standing.approved, Standing.suspended),
        (Standing.suspended, Standing.approved),
    ]
    assert seen[1][2] and "overdue" not in " ".join(seen[1][2])  # the admin's reason is not shown to vendors


def test_a_posture_event_names_the_standing_the_previous_one_and_the_reasons() -> None:
    from phigate.vendors.posture import evaluate

    rules = VendorSettings(unmanaged_vendors="allow")
    before = evaluate(Dossier(V), rules, NOW)
    after = evaluate(Dossier(V, suspension=Suspension("x", NOW)), rules, NOW)
    event = posture_event(V, before, after, NOW.timestamp())
    assert (event.kind, event.action, event.vendor_id, event.outcome) == (
        Kind.security, "vendor.posture", V, "forbidden",
    )  # fmt: skip
    assert event.rules == {"standing": "suspended", "previous": "approved", "restrictions": []}
    assert event.reason == "; ".join(after.reasons)
    back = posture_event(V, after, before, NOW.timestamp())
    assert (back.outcome, back.reason, back.rules["previous"]) == ("ok", None, "suspended")


def test_a_registry_change_becomes_a_security_event_with_its_actor() -> None:
    event = change_event(VendorChange(V, NOW, "cli:alice", "incident.record", "inc-1 (cli)"))
    assert (event.kind, event.action, event.vendor_id, event.recorded) == (
        Kind.security, "vendor.incident.record", V, NOW.timestamp(),
    )  # fmt: skip
    assert (event.reason, event.rules) == ("inc-1 (cli)", {"actor": "cli:alice"})


class Connection:
    def __init__(self) -> None:
        self.statements = 0

    async def execute(self, statement: object) -> None:
        self.statements += 1


async def test_the_journal_collects_changes_only_inside_its_block() -> None:
    connection = Connection()
    await record_event(connection, V, "a", "outside", "-", NOW)  # type: ignore[arg-type]
    with journal() as changes:
        await record_event(connection, V, "a", "vendor.suspend", "why", NOW)  # type: ignore[arg-type]
    await record_event(connection, V, "a", "after", "-", NOW)  # type: ignore[arg-type]
    assert [c.action for c in changes] == ["vendor.suspend"] and connection.statements == 3
