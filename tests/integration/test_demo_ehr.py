"""The demo EHR through HTTP (httpx.ASGITransport): reads, searches, paging, writes, journal replay, errors.

Expected search results are worked out independently from the generated data set
(the oracle), not taken from the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from phigate.demo.ehr import create_ehr_app
from phigate.demo.store import ResourceStore
from phigate.demo.synthetic import generate

FHIR_JSON = "application/fhir+json; charset=utf-8"
BASE = "http://ehr.test/fhir"
LOINC = "http://loinc.org"


@cache
def dataset() -> tuple[dict[str, Any], ...]:
    return tuple(generate())


def of_type(resource_type: str) -> list[dict[str, Any]]:
    return [r for r in dataset() if r["resourceType"] == resource_type]


def has_code(concept: dict[str, Any], code: str) -> bool:
    return any(c["code"] == code for c in concept["coding"])


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ehr.test")


@pytest.fixture
async def ehr() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_ehr_app(ResourceStore(dataset()))) as client:
        yield client


async def fhir_get(client: httpx.AsyncClient, url: str, status: int = 200) -> dict[str, Any]:
    response = await client.get(url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == FHIR_JSON
    body: dict[str, Any] = response.json()
    return body


async def total(client: httpx.AsyncClient, query: str) -> int:
    bundle = await fhir_get(client, f"/fhir/{query}{'&' if '?' in query else '?'}_summary=count")
    assert "entry" not in bundle
    count: int = bundle["total"]
    return count


async def all_pages(
    client: httpx.AsyncClient, url: str, max_pages: int = 100
) -> tuple[int, list[dict[str, Any]]]:
    """Follow next links to the end; returns the total of the first page and every entry."""
    first = await fhir_get(client, url)
    entries, bundle = list(first.get("entry", [])), first
    for _ in range(max_pages):
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            return first["total"], entries
        assert following[0].startswith(BASE)
        bundle = await fhir_get(client, following[0].removeprefix("http://ehr.test"))
        assert bundle["total"] == first["total"]
        entries.extend(bundle.get("entry", []))
    raise AssertionError("paging did not end")


def matched(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


# capability, read, vread


async def test_metadata_is_a_capability_statement_of_the_supported_types(ehr: httpx.AsyncClient) -> None:
    statement = await fhir_get(ehr, "/fhir/metadata")
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1" and statement["kind"] == "instance"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {"Patient", "Observation", "Claim", "Coverage", "DiagnosticReport"} <= resources.keys()
    observation = resources["Observation"]
    interactions = {i["code"] for i in observation["interaction"]}
    assert {"read", "vread", "search-type", "create", "update"} <= interactions
    params = {p["name"]: p["type"] for p in observation["searchParam"]}
    assert params["patient"] == "reference" and params["code"] == "token" and params["date"] == "date"
    assert "Observation:subject" in observation["searchInclude"]


async def test_read_returns_the_resource_with_etag_and_last_modified(ehr: httpx.AsyncClient) -> None:
    response = await ehr.get("/fhir/Patient/pat-canary")
    assert response.status_code == 200
    assert response.headers["content-type"] == FHIR_JSON
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["last-modified"].endswith(" GMT")
    assert response.json()["name"][0]["family"] == "Testpatient"
    unchanged = await ehr.get("/fhir/Patient/pat-canary", headers={"If-None-Match": 'W/"1"'})
    assert unchanged.status_code == 304


async def test_read_of_missing_resource_or_unknown_type_is_a_404_outcome(ehr: httpx.AsyncClient) -> None:
    missing = await fhir_get(ehr, "/fhir/Patient/no-such-patient", 404)
    assert missing["resourceType"] == "OperationOutcome"
    assert missing["issue"][0]["code"] == "not-found"
    unknown = await fhir_get(ehr, "/fhir/Spaceship/1", 404)
    assert unknown["resourceType"] == "OperationOutcome"
    assert (await fhir_get(ehr, "/fhir/Spaceship?name=x", 404))["resourceType"] == "OperationOutcome"
    assert (await fhir_get(ehr, "/fhir/Patient/bad%20id", 400))["issue"][0]["code"] == "invalid"


async def test_vread_and_history_of_a_seeded_resource(ehr: httpx.AsyncClient) -> None:
    version = await fhir_get(ehr, "/fhir/Observation/obs-canary-001/_history/1")
    assert version["id"] == "obs-canary-001" and version["meta"]["versionId"] == "1"
    await fhir_get(ehr, "/fhir/Observation/obs-canary-001/_history/2", 404)
    history = await fhir_get(ehr, "/fhir/Observation/obs-canary-001/_history")
    assert history["type"] == "history" and history["total"] == 1


# search parameters of each kind


async def test_token_search_by_system_and_code_by_code_and_comma_or(ehr: httpx.AsyncClient) -> None:
    hemoglobin = sum(has_code(o["code"], "718-7") for o in of_type("Observation"))
    glucose = sum(has_code(o["code"], "2339-0") for o in of_type("Observation"))
    assert hemoglobin > 0 and glucose > 0
    assert await total(ehr, f"Observation?code={LOINC}|718-7") == hemoglobin
    assert await total(ehr, "Observation?code=718-7") == hemoglobin
    assert await total(ehr, "Observation?code=718-7,2339-0") == hemoglobin + glucose
    assert await total(ehr, "Observation?code=http://snomed.info/sct|718-7") == 0
    labs = sum(o["category"][0]["coding"][0]["code"] == "laboratory" for o in of_type("Observation"))
    assert await total(ehr, "Observation?category=laboratory") == labs
    bundle = await fhir_get(ehr, f"/fhir/Observation?code={LOINC}|718-7&_count=5")
    assert len(matched(bundle)) == 5 and all(has_code(o["code"], "718-7") for o in matched(bundle))


async def test_status_token_and_not_modifier(ehr: httpx.AsyncClient) -> None:
    active = sum(m["status"] == "active" for m in of_type("MedicationRequest"))
    everyone = len(of_type("MedicationRequest"))
    assert 0 < active < everyone
    assert await total(ehr, "MedicationRequest?status=active") == active
    assert await total(ehr, "MedicationRequest?status:not=active") == everyone - active


async def test_reference_search_with_and_without_type_prefix(ehr: httpx.AsyncClient) -> None:
    expected = sum(o["subject"]["reference"] == "Patient/pat-canary" for o in of_type("Observation"))
    assert expected > 0
    for query in (
        "patient=pat-canary",
        "patient=Patient/pat-canary",
        "subject=Patient/pat-canary",
        "subject:Patient=pat-canary",
        f"subject={BASE}/Patient/pat-canary",
        "subject=pat-canary",
    ):
        assert await total(ehr, f"Observation?{query}") == expected, query
    immunizations = sum(i["patient"]["reference"] == "Patient/pat-canary" for i in of_type("Immunization"))
    assert await total(ehr, "Immunization?patient=pat-canary") == immunizations


async def test_date_prefixes_over_point_values_match_the_oracle(ehr: httpx.AsyncClient) -> None:
    moments = [utc(o["effectiveDateTime"]) for o in of_type("Observation")]
    cut = datetime(2025, 6, 1, tzinfo=UTC)
    after = sum(m >= cut for m in moments)
    assert 0 < after < len(moments)
    assert await total(ehr, "Observation?date=ge2025-06-01") == after
    assert await total(ehr, "Observation?date=lt2025-06-01") == len(moments) - after
    assert await total(ehr, "Observation?date=gt2025-05-31") == after
    assert await total(ehr, "Observation?date=le2025-05-31") == len(moments) - after
    in_2024 = sum(m.year == 2024 for m in moments)
    assert await total(ehr, "Observation?date=2024") == in_2024
    assert await total(ehr, "Observation?date=eq2024") == in_2024
    assert await total(ehr, "Observation?date=ne2024") == len(moments) - in_2024
    march = sum((m.year, m.month) == (2025, 3) for m in moments)
    assert await total(ehr, "Observation?date=2025-03") == march
    assert await total(ehr, "Observation?date=ge2025-03&date=lt2025-04") == march


async def test_date_search_within_one_patient_and_on_periods(ehr: httpx.AsyncClient) -> None:
    canary = [utc(o["effectiveDateTime"]) for o in of_type("Observation")
              if o["subject"]["reference"] == "Patient/pat-canary"]  # fmt: skip
    first = min(canary)
    day = first.strftime("%Y-%m-%d")
    on_day = sum(m.strftime("%Y-%m-%d") == day for m in canary)
    assert await total(ehr, f"Observation?patient=pat-canary&date={day}") == on_day
    assert await total(ehr, f"Observation?patient=pat-canary&date=sa{day}") == len(canary) - on_day
    starts = [utc(e["period"]["start"]) for e in of_type("Encounter")]
    ends = [utc(e["period"]["end"]) for e in of_type("Encounter")]
    in_2024 = sum(s.year == 2024 and e.year == 2024 for s, e in zip(starts, ends, strict=True))
    assert await total(ehr, "Encounter?date=2024") == in_2024
    recorded = sum(utc(c["recordedDate"]).year <= 2024 for c in of_type("Condition"))
    assert await total(ehr, "Condition?recorded-date=lt2025") == recorded


async def test_invalid_date_or_count_is_a_400_that_does_not_echo_the_value(ehr: httpx.AsyncClient) -> None:
    outcome = await fhir_get(ehr, "/fhir/Observation?date=ge31-Secret-Value", 400)
    assert outcome["issue"][0]["code"] == "invalid"
    assert "Secret" not in outcome["issue"][0]["diagnostics"]
    await fhir_get(ehr, "/fhir/Observation?_count=many", 400)


async def test_patient_string_identifier_birthdate_and_gender_search(ehr: httpx.AsyncClient) -> None:
    async def ids(query: str) -> list[str]:
        return [r["id"] for r in matched(await fhir_get(ehr, f"/fhir/Patient?{query}"))]

    assert await ids("name=canary") == ["pat-canary"]
    assert await ids("family=TESTPAT") == ["pat-canary"]
    assert await ids("given=zoe&family=nunez") == ["pat-unicode"]
    assert await ids("name:exact=Testpatient") == ["pat-canary"]
    assert await ids("name:exact=testpatient") == []
    assert "pat-canary" in await ids("name:contains=stpati")
    assert await ids("identifier=https://demo-hospital.example/mrn|M0000001") == ["pat-canary"]
    assert await ids("identifier=M0000001") == ["pat-canary"]
    assert await ids("identifier=https://acme.example/member-id|ACME000000001") == ["pat-canary"]
    assert "pat-canary" in await ids("birthdate=1980-01-01")
    females = sum(p["gender"] == "female" for p in of_type("Patient"))
    assert await total(ehr, "Patient?gender=female") == females
    born_before = sum(p["birthDate"] < "1950-01-01" for p in of_type("Patient"))
    assert await total(ehr, "Patient?birthdate=lt1950") == born_before


# paging, sorting, include


async def test_paging_through_next_links_returns_every_match_once(ehr: httpx.AsyncClient) -> None:
    expected = {o["id"] for o in of_type("Observation") if has_code(o["code"], "8867-4")}
    first = await fhir_get(ehr, "/fhir/Observation?code=8867-4&_count=37")
    assert first["total"] == len(expected)
    assert len(first["entry"]) == 37 and "previous" not in {link["relation"] for link in first["link"]}
    reported, entries = await all_pages(ehr, "/fhir/Observation?code=8867-4&_count=37")
    ids = [e["resource"]["id"] for e in entries]
    assert reported == len(ids) == len(set(ids))
    assert set(ids) == expected
    second = await fhir_get(ehr, "/fhir/Observation?code=8867-4&_count=37&_offset=37")
    assert "previous" in {link["relation"] for link in second["link"]}
    assert all(e["fullUrl"] == f"{BASE}/Observation/{e['resource']['id']}" for e in entries)


async def test_count_is_capped_and_defaults_to_twenty(ehr: httpx.AsyncClient) -> None:
    assert len((await fhir_get(ehr, "/fhir/Observation"))["entry"]) == 20
    assert len((await fhir_get(ehr, "/fhir/Observation?_count=5000"))["entry"]) == 200


async def test_sort_by_date_ascending_and_descending(ehr: httpx.AsyncClient) -> None:
    for sort, descending in (("date", False), ("-date", True)):
        bundle = await fhir_get(ehr, f"/fhir/Observation?patient=pat-0003&_sort={sort}&_count=200")
        moments = [utc(o["effectiveDateTime"]) for o in matched(bundle)]
        assert len(moments) > 5
        assert moments == sorted(moments, reverse=descending)


async def test_include_adds_referenced_resources_in_include_mode(ehr: httpx.AsyncClient) -> None:
    bundle = await fhir_get(ehr, "/fhir/Observation?patient=pat-canary&_include=Observation:subject")
    included = [e for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert [e["resource"]["id"] for e in included] == ["pat-canary"]
    query = "patient=pat-canary&_include=DiagnosticReport:result"
    reports = await fhir_get(ehr, f"/fhir/DiagnosticReport?{query}")
    wanted = {r["reference"] for report in matched(reports) for r in report["result"]}
    got = {f"Observation/{e['resource']['id']}" for e in reports["entry"] if e["search"]["mode"] == "include"}
    assert wanted and got == wanted
    claims = await fhir_get(ehr, "/fhir/Claim?patient=pat-canary&_include=Claim:patient")
    assert any(e["resource"]["resourceType"] == "Patient" for e in claims["entry"])


async def test_revinclude_brings_resources_that_point_at_the_matches(ehr: httpx.AsyncClient) -> None:
    bundle = await fhir_get(ehr, "/fhir/Patient?_id=pat-canary&_revinclude=Immunization:patient")
    included = {e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "include"}
    expected = {i["id"] for i in of_type("Immunization") if i["patient"]["reference"] == "Patient/pat-canary"}
    assert included == expected


async def test_elements_returns_a_marked_subset(ehr: httpx.AsyncClient) -> None:
    bundle = await fhir_get(ehr, "/fhir/Patient?_id=pat-canary&_elements=gender,birthDate")
    patient = matched(bundle)[0]
    assert set(patient) == {"resourceType", "id", "meta", "gender", "birthDate"}
    assert patient["meta"]["tag"][0]["code"] == "SUBSETTED"
    assert await total(ehr, "Patient?_count=3") == 120


async def test_unknown_parameter_is_reported_or_refused_when_strict(ehr: httpx.AsyncClient) -> None:
    bundle = await fhir_get(ehr, "/fhir/Patient?name=canary&favourite-colour=blue")
    outcomes = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert outcomes and "favourite-colour" in outcomes[0]["issue"][0]["diagnostics"]
    assert bundle["total"] == 1
    strict = await ehr.get("/fhir/Patient?favourite-colour=blue", headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400


async def test_post_search_takes_a_form_body(ehr: httpx.AsyncClient) -> None:
    response = await ehr.post("/fhir/Patient/_search", data={"family": "Testpatient"})
    assert response.status_code == 200 and response.headers["content-type"] == FHIR_JSON
    bundle = response.json()
    assert bundle["total"] == 1
    assert bundle["link"][0]["url"].startswith(f"{BASE}/Patient?")
    json_body = {"Content-Type": "application/json"}
    wrong = await ehr.post("/fhir/Patient/_search", content=b"{}", headers=json_body)
    assert wrong.status_code == 415


# compartment and $everything


async def test_compartment_search_equals_search_by_patient(ehr: httpx.AsyncClient) -> None:
    inside = await fhir_get(ehr, "/fhir/Patient/pat-canary/Observation?category=vital-signs&_count=200")
    direct = await fhir_get(ehr, "/fhir/Observation?patient=pat-canary&category=vital-signs&_count=200")
    assert inside["total"] == direct["total"] > 0
    assert [r["id"] for r in matched(inside)] == [r["id"] for r in matched(direct)]
    await fhir_get(ehr, "/fhir/Patient/pat-canary/Practitioner", 404)
    await fhir_get(ehr, "/fhir/Patient/no-one/Observation", 404)


async def test_everything_pages_through_the_patient_record_and_nothing_else(ehr: httpx.AsyncClient) -> None:
    def refers_to_canary(resource: dict[str, Any]) -> bool:
        return "Patient/pat-canary" in str(resource)

    own = {(r["resourceType"], r["id"]) for r in dataset()
           if refers_to_canary(r) and r["resourceType"] != "Patient"}  # fmt: skip
    reported, entries = await all_pages(ehr, "/fhir/Patient/pat-canary/$everything?_count=15")
    got = [(e["resource"]["resourceType"], e["resource"]["id"]) for e in entries]
    assert reported == len(got) == len(set(got))
    assert got[0] == ("Patient", "pat-canary")
    assert own <= set(got)
    others = {key for key in got if key[0] not in ("Patient", "Practitioner", "Organization")}
    assert others == own
    assert {"Practitioner", "Organization"} <= {key[0] for key in got}
    assert [key for key in got if key[0] == "Patient"] == [("Patient", "pat-canary")]


# writes


def new_observation(patient: str = "Patient/pat-empty") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "ignored-by-server",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": patient},
        "effectiveDateTime": "2025-12-30T10:00:00Z",
        "valueQuantity": {"value": 71, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }  # fmt: skip


async def test_create_assigns_an_id_and_the_resource_reads_back(ehr: httpx.AsyncClient) -> None:
    response = await ehr.post("/fhir/Observation", json=new_observation(),
                              headers={"Content-Type": "application/fhir+json"})  # fmt: skip
    assert response.status_code == 201
    assert response.headers["etag"] == 'W/"1"'
    created = response.json()
    assert created["id"] != "ignored-by-server" and created["meta"]["versionId"] == "1"
    assert response.headers["location"] == f"{BASE}/Observation/{created['id']}/_history/1"
    assert await fhir_get(ehr, f"/fhir/Observation/{created['id']}") == created
    found = await fhir_get(ehr, "/fhir/Observation?patient=pat-empty&date=2025-12-30")
    assert [r["id"] for r in matched(found)] == [created["id"]]
    prefer = {"Prefer": "return=minimal"}
    minimal = await ehr.post("/fhir/Observation", json=new_observation(), headers=prefer)
    assert minimal.status_code == 201 and minimal.content == b"" and minimal.headers["location"]


async def test_update_increments_the_version_and_honours_if_match(ehr: httpx.AsyncClient) -> None:
    patient = await fhir_get(ehr, "/fhir/Patient/pat-canary")
    patient["telecom"] = [{"system": "phone", "value": "(217) 555-0111", "use": "mobile"}]
    updated = await ehr.put("/fhir/Patient/pat-canary", json=patient, headers={"If-Match": 'W/"1"'})
    assert updated.status_code == 200 and updated.headers["etag"] == 'W/"2"'
    assert updated.json()["meta"]["versionId"] == "2"
    stale = await ehr.put("/fhir/Patient/pat-canary", json=patient, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412 and stale.json()["resourceType"] == "OperationOutcome"
    first_version = await fhir_get(ehr, "/fhir/Patient/pat-canary/_history/1")
    assert first_version["telecom"][0]["value"] == "(217) 555-0100"
    assert (await fhir_get(ehr, "/fhir/Patient/pat-canary"))["telecom"][0]["value"] == "(217) 555-0111"
    assert (await fhir_get(ehr, "/fhir/Patient/pat-canary/_history"))["total"] == 2
    assert await total(ehr, "Patient?phone=(217) 555-0111") == 1
    assert await total(ehr, "Patient?phone=(217) 555-0100") == 0


async def test_update_of_a_new_id_creates_it(ehr: httpx.AsyncClient) -> None:
    resource = new_observation() | {"id": "client-chosen-1"}
    response = await ehr.put("/fhir/Observation/client-chosen-1", json=resource)
    assert response.status_code == 201
    assert response.json()["meta"]["versionId"] == "1"


async def test_delete_makes_reads_gone_and_searches_skip_it(ehr: httpx.AsyncClient) -> None:
    before = await total(ehr, "Observation?patient=pat-canary")
    deleted = await ehr.delete("/fhir/Observation/obs-canary-001")
    assert deleted.status_code == 200 and deleted.headers["content-type"] == FHIR_JSON
    await fhir_get(ehr, "/fhir/Observation/obs-canary-001", 410)
    assert await total(ehr, "Observation?patient=pat-canary") == before - 1
    assert (await fhir_get(ehr, "/fhir/Observation/obs-canary-001/_history"))["total"] == 2


async def test_bad_bodies_are_refused_with_an_outcome(ehr: httpx.AsyncClient) -> None:
    wrong_type = await ehr.post("/fhir/Observation", json={"resourceType": "Patient"})
    assert wrong_type.status_code == 400 and wrong_type.json()["resourceType"] == "OperationOutcome"
    mismatch = await ehr.put("/fhir/Observation/obs-canary-001", json=new_observation() | {"id": "other"})
    assert mismatch.status_code == 400
    not_json = await ehr.post("/fhir/Observation", content=b"{not json",
                              headers={"Content-Type": "application/fhir+json"})  # fmt: skip
    assert not_json.status_code == 400
    array = await ehr.post("/fhir/Observation", json=[new_observation()])
    assert array.status_code == 400
    plain = await ehr.post("/fhir/Observation", content=b"hello", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415 and plain.headers["content-type"] == FHIR_JSON
    unknown = await ehr.post("/fhir/Spaceship", json={"resourceType": "Spaceship"})
    assert unknown.status_code == 404
    patch = await ehr.patch("/fhir/Patient/pat-canary", json={})
    assert patch.status_code == 405 and patch.json()["resourceType"] == "OperationOutcome"


async def test_oversized_body_is_refused_with_413() -> None:
    app = create_ehr_app(ResourceStore(dataset()), max_body_bytes=2048)
    async with client_for(app) as client:
        big = new_observation() | {"note": [{"text": "x" * 4096}]}
        response = await client.post("/fhir/Observation", json=big)
        assert response.status_code == 413
        assert response.json()["issue"][0]["code"] == "too-costly"


async def test_base_path_is_a_parameter() -> None:
    async with client_for(create_ehr_app(ResourceStore(dataset()), base_path="/ehr/r4")) as client:
        bundle = await fhir_get(client, "/ehr/r4/Patient?name=canary")
        assert bundle["entry"][0]["fullUrl"] == "http://ehr.test/ehr/r4/Patient/pat-canary"
        assert (await client.get("/fhir/metadata")).status_code == 404


# journal


async def test_writes_survive_reopening_the_store_from_its_journal(tmp_path: Path) -> None:
    journal = tmp_path / "ehr.jsonl"
    store = ResourceStore(dataset(), journal=journal)
    async with client_for(create_ehr_app(store)) as client:
        created = (await client.post("/fhir/Observation", json=new_observation())).json()
        patient = await fhir_get(client, "/fhir/Patient/pat-minor")
        patient["active"] = False
        assert (await client.put("/fhir/Patient/pat-minor", json=patient)).status_code == 200
        assert (await client.delete("/fhir/Observation/obs-canary-002")).status_code == 200
    store.close()
    with journal.open("ab") as handle:
        handle.write(b'{"type":"Patient","id":"torn')  # a crash in the middle of a write

    reopened = ResourceStore(dataset(), journal=journal)
    async with client_for(create_ehr_app(reopened)) as client:
        assert await fhir_get(client, f"/fhir/Observation/{created['id']}") == created
        minor = await fhir_get(client, "/fhir/Patient/pat-minor")
        assert minor["active"] is False and minor["meta"]["versionId"] == "2"
        await fhir_get(client, "/fhir/Observation/obs-canary-002", 410)
        assert await total(client, "Patient?active=false") == 1
        again = await client.put("/fhir/Patient/pat-minor", json=minor, headers={"If-Match": 'W/"2"'})
        assert again.status_code == 200 and again.json()["meta"]["versionId"] == "3"
    reopened.close()
    assert len(journal.read_bytes().splitlines()) == 4


async def test_behind_the_gateway_links_point_at_the_public_base(ehr: httpx.AsyncClient) -> None:
    forwarded = {
        "x-forwarded-proto": "https",
        "x-forwarded-host": "gw.example:8443",
        "x-forwarded-prefix": "/fhir",
    }
    response = await ehr.get(
        "/fhir/Observation", params={"patient": "pat-canary", "_count": "2"}, headers=forwarded
    )
    bundle = response.json()
    urls = [link["url"] for link in bundle["link"]] + [entry["fullUrl"] for entry in bundle["entry"]]
    assert urls and all(url.startswith("https://gw.example:8443/fhir/") for url in urls), urls
    # Without the headers, the EHR names itself as before.
    plain = (await ehr.get("/fhir/Observation", params={"patient": "pat-canary", "_count": "2"})).json()
    assert all(link["url"].startswith(BASE) for link in plain["link"])
