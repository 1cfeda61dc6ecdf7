"""The posture gate's cache and the posture stage: what each standing lets through, without HTTP."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from phigate.errors import Forbidden, StorageError
from phigate.exchange import Exchange, Identity
from phigate.fhir.parser import parse_request
from phigate.oauth.resource import InvalidToken
from phigate.pipeline.posture import PostureStage
from phigate.policy.grants import Grant
from phigate.policy.scopes import ScopeSet
from phigate.settings.vendors import VendorSettings
from phigate.types import ClientId, RequestId, VendorId
from phigate.vendors.dossier import Dossier, Suspension
from phigate.vendors.gate import PostureGate, VendorRefused
from phigate.vendors.incidents import Incident

V = VendorId("acme")
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
TOKEN_SECONDS = 300


class Source:
    def __init__(self, dossier: Dossier) -> None:
        self.current = dossier
        self.loads = 0
        self.fail = False

    async def dossier(self, vendor_id: VendorId) -> Dossier:
        self.loads += 1
        await asyncio.sleep(0)
        if self.fail:
            raise StorageError()
        return self.current


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def gate(source: Source, monotonic: Clock) -> PostureGate:
    rules = VendorSettings(cache_seconds=2, unmanaged_vendors="allow")  # Dossier(V) has no risk record
    return PostureGate(source, rules, clock=NOW.timestamp, monotonic=monotonic)


async def test_the_gate_rereads_the_registry_after_the_cache_time_and_loads_once_for_many() -> None:
    source, monotonic = Source(Dossier(V)), Clock()
    posture_gate = gate(source, monotonic)
    await asyncio.gather(*(posture_gate.dossier(V) for _ in range(20)))
    assert source.loads == 1
    source.current = replace(source.current, suspension=Suspension("x", NOW))
    monotonic.now = 1.9
    assert await posture_gate.refusal(V) is None  # still the cached view
    monotonic.now = 2.0
    assert await posture_gate.refusal(V) == "Access suspended by the data holder on 2026-11-28"
    assert source.loads == 2


async def test_an_unreadable_registry_fails_closed() -> None:
    source, monotonic = Source(Dossier(V)), Clock()
    source.fail = True
    with pytest.raises(StorageError):
        await gate(source, monotonic).posture(V)


def exchange(method: str, path: str, scopes: str, issued_at: float) -> Exchange:
    async def no_body(limit: int) -> bytes:
        return b""

    ex = Exchange(
        request_id=RequestId("req-1"), method=method, path=path, raw_path=path.encode(), query="",
        headers=[], client_ip="127.0.0.1", scheme="https", started=time.monotonic(), read_body=no_body,
        route_base="/fhir",
    )  # fmt: skip
    ex.fhir = parse_request(method, path[len("/fhir") :], "")
    grant = Grant(ScopeSet.parse(scopes), ClientId("lab"))
    ex.identity = Identity(grant, V, "jti-1", "https://gw", int(issued_at) + TOKEN_SECONDS)
    return ex


def stage(dossier: Dossier) -> PostureStage:
    return PostureStage(gate(Source(dossier), Clock()), TOKEN_SECONDS)


async def test_a_suspended_vendor_is_refused_with_its_reasons_only() -> None:
    ex = exchange("GET", "/fhir/Patient/1", "system/Patient.r", NOW.timestamp())
    with pytest.raises(VendorRefused) as refused:
        await stage(Dossier(V, suspension=Suspension("secret internal note", NOW)))(ex)
    assert refused.value.status == 403
    assert refused.value.message == "Access suspended by the data holder on 2026-11-28"
    assert ex.facts["vendor_standing"] == "suspended"


async def test_read_only_refuses_writes_and_lets_reads_through() -> None:
    aware = datetime(2026, 11, 27, tzinfo=UTC)
    incident = Incident(id="inc-1", vendor_id=V, summary="Phish", aware_at=aware, recorded_at=aware)
    dossier = Dossier(V, incidents=(incident,))
    read_only = PostureStage(
        PostureGate(Source(dossier), VendorSettings(incident_effect="read_only", unmanaged_vendors="allow"),
                    clock=NOW.timestamp,
                    monotonic=Clock()), TOKEN_SECONDS,
    )  # fmt: skip
    await read_only(exchange("GET", "/fhir/Observation/1", "system/Observation.cruds", NOW.timestamp()))
    with pytest.raises(Forbidden, match="access is read-only"):
        await read_only(
            exchange("DELETE", "/fhir/Observation/1", "system/Observation.cruds", NOW.timestamp())
        )


async def test_tokens_issued_before_an_incident_are_revoked_even_after_reinstatement() -> None:
    revoked_at = datetime(2026, 11, 28, 11, tzinfo=UTC)
    posture_stage = stage(Dossier(V, tokens_revoked_before=revoked_at))
    with pytest.raises(InvalidToken):
        await posture_stage(
            exchange("GET", "/fhir/Patient/1", "system/Patient.r", revoked_at.timestamp() - 10)
        )
    await posture_stage(exchange("GET", "/fhir/Patient/1", "system/Patient.r", revoked_at.timestamp() + 1))


async def test_the_grant_is_narrowed_to_the_current_registered_scopes() -> None:
    dossier = Dossier(V, client_scopes={ClientId("lab"): "system/Patient.r"})
    ex = exchange("GET", "/fhir/Patient/1", "system/Patient.r system/Observation.rs", NOW.timestamp())
    await stage(dossier)(ex)
    assert ex.identity is not None and ex.identity.grant.scopes.to_string() == "system/Patient.r"


async def test_a_public_request_has_no_vendor_to_check() -> None:
    ex = exchange("GET", "/fhir/metadata", "system/Patient.r", NOW.timestamp())
    ex.identity = None
    await stage(Dossier(V, known=False))(ex)
    assert "vendor_standing" not in ex.facts
