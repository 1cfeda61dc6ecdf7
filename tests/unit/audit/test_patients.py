from __future__ import annotations

import gzip

import orjson
from hypothesis import given
from hypothesis import strategies as st

from phigate.audit.patients import PatientScan

BUNDLE = orjson.dumps(
    {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"fullUrl": "https://ehr/fhir/Patient/p-1", "resource": {"resourceType": "Patient", "id": "p-1"}},
            {"resource": {"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p-2"},
                          "valueString": "NotPatient/x"}},
            {"resource": {"resourceType": "Patient", "id": "p-3"}},
        ],
    }
)  # fmt: skip


def scan(body: bytes, chunks: list[int], content_type: str = "application/fhir+json", **kw: str) -> set[str]:
    s = PatientScan(content_type, kw.get("encoding"), keep_bytes=int(kw.get("keep", 1 << 20)))
    start = 0
    for size in chunks:
        s.feed(body[start : start + size])
        start += size
    s.feed(body[start:])
    return s.finish()


def test_references_and_patient_resources_are_found() -> None:
    assert scan(BUNDLE, []) == {"p-1", "p-2", "p-3"}


@given(st.lists(st.integers(min_value=1, max_value=40), max_size=30))
def test_any_chunking_finds_the_same_patients(sizes: list[int]) -> None:
    assert scan(BUNDLE, sizes) == {"p-1", "p-2", "p-3"}


def test_a_reply_past_the_parse_budget_is_scanned_only() -> None:
    # p-3 has no reference to itself and the body is not parsed: only a Bundle fullUrl would name it.
    assert scan(BUNDLE, [10, 10], keep="50") == {"p-1", "p-2"}


def test_a_patient_read_is_named_by_its_id() -> None:
    body = orjson.dumps({"resourceType": "Patient", "id": "pat-canary", "name": [{"family": "Testpatient"}]})
    assert scan(body, [7]) == {"pat-canary"}


def test_gzip_replies_are_inflated_for_the_scan() -> None:
    assert scan(gzip.compress(BUNDLE), [13, 50], encoding="gzip") == {"p-1", "p-2", "p-3"}


def test_xml_is_scanned_and_other_media_types_are_not() -> None:
    xml = b'<Bundle><entry><resource><Observation><subject><reference value="Patient/x-9"/></subject>'
    assert scan(xml, [30], content_type="application/fhir+xml") == {"x-9"}
    assert scan(b"Patient/x-9 ", [], content_type="application/pdf") == set()


def test_an_unreadable_encoding_marks_the_scan_incomplete() -> None:
    s = PatientScan("application/fhir+json", "br", 1000)
    s.feed(b"\x00\x01")
    assert s.finish() == set() and not s.complete
