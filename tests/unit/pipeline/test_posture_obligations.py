"""The posture stage's restrictions without HTTP: de-identified data only (reads pass with an obligation,
writes and identifying searches are refused) and pending review (access held where it was)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest

from phigate.errors import Forbidden
from phigate.exchange import Exchange, Identity
from phigate.fhir.parser import parse_request
from phigate.pipeline.posture import PostureStage
from phigate.policy.grants import Grant
from phigate.policy.scopes import ScopeSet
from phigate.settings.vendors import VendorSettings
from phigate.shaping.deidentify import SAFE_HARBOR
from phigate.types import ClientId, RequestId, VendorId
from phigate.vendors.agreements import BAA_CLAUSES, Agreement, AgreementKind
from phigate.vendors.dossier import Dossier
from phigate.vendors.evidence import Evidence, EvidenceKind
from phigate.vendors.gate import PostureGate
from phigate.vendors.subprocessors import Subprocessor

V = VendorId("cohort")
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
NO_BAA = "No HIPAA business associate agreement on file; no PHI may be disclosed (de-identified data only)"
SOC2 = Evidence(
    id="ev-1", vendor_id=V, kind=EvidenceKind.soc2_type2, recorded_at=NOW, issuer="Auditor LLP",
    period_start=date(2025, 10, 1), period_end=date(2026, 9, 30),
)  # fmt: skip
BAA = Agreement(
    id="ag-1", vendor_id=V, kind=AgreementKind.baa, valid_from=date(2026, 1, 1),
    valid_until=date(2028, 12, 31), recorded_at=NOW, clauses=frozenset(BAA_CLAUSES),
)  # fmt: skip


class Source:
    def __init__(self, dossier: Dossier) -> None:
        self.current = dossier

    async def dossier(self, vendor_id: VendorId) -> Dossier:
        return self.current


def stage(dossier: Dossier) -> PostureStage:
    gate = PostureGate(Source(dossier), VendorSettings(), clock=NOW.timestamp, monotonic=time.monotonic)
    return PostureStage(gate, 300)


def exchange(
    method: str, path: str, query: str = "", scopes: str = "system/*.cruds", client: str = "study"
) -> Exchange:
    async def no_body(limit: int) -> bytes:
        return b""

    ex = Exchange(
        request_id=RequestId("req-1"), method=method, path=path, raw_path=path.encode(), query=query,
        headers=[], client_ip="127.0.0.1", scheme="https", started=time.monotonic(), read_body=no_body,
        route_base="/fhir",
    )  # fmt: skip
    ex.fhir = parse_request(method, path[len("/fhir") :], query)
    ex.identity = Identity(Grant(ScopeSet.parse(scopes), ClientId(client)), V, "jti-1", "https://gw",
                           int(NOW.timestamp()) + 300)  # fmt: skip
    return ex


async def test_without_a_baa_a_read_proceeds_with_the_de_identification_obligation() -> None:
    ex = exchange("GET", "/fhir/Observation", "code=8867-4")
    await stage(Dossier(V, evidence=(SOC2,)))(ex)
    assert ex.deidentify == SAFE_HARBOR
    assert (ex.facts["vendor_standing"], ex.facts["deidentified"]) == ("conditional", SAFE_HARBOR)


@pytest.mark.parametrize(("method", "path"), [("POST", "/fhir/Observation"), ("DELETE", "/fhir/Patient/1"),
                                               ("PUT", "/fhir/Patient/1"), ("POST", "/fhir")])  # fmt: skip
async def test_without_a_baa_writes_are_refused_with_the_reason(method: str, path: str) -> None:
    ex = exchange(method, path)
    with pytest.raises(Forbidden) as refused:
        await stage(Dossier(V, evidence=(SOC2,)))(ex)
    assert refused.value.message == f"{NO_BAA}. Writes are refused."
    assert ex.deidentify is None


async def test_without_a_baa_xml_is_refused_since_the_preset_works_on_json() -> None:
    ex = exchange("GET", "/fhir/Observation", "code=8867-4&_format=xml")
    with pytest.raises(
        Forbidden, match=r"De-identified replies are JSON only: ask for application/fhir\+json\.$"
    ):
        await stage(Dossier(V, evidence=(SOC2,)))(ex)


async def test_without_a_baa_a_search_by_identifying_details_is_refused() -> None:
    ex = exchange("GET", "/fhir/Observation", "subject:Patient.name=Testpatient&code=8867-4")
    with pytest.raises(Forbidden, match=r"A search by name would identify a person\.$"):
        await stage(Dossier(V, evidence=(SOC2,)))(ex)


def pending(scopes: dict[ClientId, str]) -> Subprocessor:
    return Subprocessor(
        id="sp-1", vendor_id=V, name="CloudStore", service="storage", data_categories=("lab-results",),
        locations=("US",), proposed_at=NOW, objection_until=date(2026, 12, 28), scopes_at_proposal=scopes,
    )  # fmt: skip


async def test_pending_review_holds_a_client_to_its_scopes_when_the_change_was_proposed() -> None:
    held = {ClientId("study"): "system/Observation.rs"}
    registered = {ClientId("study"): "system/Observation.rs system/Condition.rs"}  # a scope added since
    dossier = Dossier(V, evidence=(SOC2,), agreements=(BAA,), subprocessors=(pending(held),),
                      client_scopes=registered)  # fmt: skip
    ex = exchange("GET", "/fhir/Observation", scopes="system/Observation.rs system/Condition.rs")
    await stage(dossier)(ex)
    assert ex.identity is not None and ex.identity.grant.scopes.to_string() == "system/Observation.rs"
    assert ex.facts["vendor_standing"] == "pending_review"


async def test_pending_review_refuses_a_client_registered_since_with_the_reason() -> None:
    held = {ClientId("study"): "system/Observation.rs"}
    dossier = Dossier(V, evidence=(SOC2,), agreements=(BAA,), subprocessors=(pending(held),))
    with pytest.raises(Forbidden) as refused:
        await stage(dossier)(exchange("GET", "/fhir/Observation", client="newcomer"))
    assert refused.value.message.startswith("Sub-processor CloudStore added 2026-11-28; pending approval")
    assert refused.value.message.endswith(
        "A client registered since the change was proposed waits for approval."
    )
