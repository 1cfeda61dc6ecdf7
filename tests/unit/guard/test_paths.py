from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phigate.guard.paths import check_headers, check_raw_path


@pytest.mark.parametrize(
    "path",
    [
        b"/fhir/Patient/1",
        b"/fhir/Patient/1/_history/2",
        b"/fhir/Patient/$everything",
        b"/fhir",
        b"/fhir/Patient?name=..%2F",
        b"/fhir/Observation/",
        b"/fhir/Patient/a%20b",
    ],
)
def test_clean_paths(path: bytes) -> None:
    assert check_raw_path(path) == []


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        (b"/fhir/Patient%2F1", "path.encoded-separator"),
        (b"/fhir/Patient/%5c", "path.encoded-separator"),
        (b"/fhir/%2e%2e/admin", "path.encoded-separator"),
        (b"/fhir/Patient/%252e", "path.encoded-separator"),
        (b"/fhir/Patient/1%00", "path.encoded-separator"),
        (b"/fhir/Patient/1%0d%0a", "path.encoded-separator"),
        (b"/fhir/../admin", "path.dot-segment"),
        (b"/fhir/./Patient", "path.dot-segment"),
        (b"/fhir//Patient", "path.empty-segment"),
        (b"/fhir/Patient/%c0%ae", "path.utf8"),
        (b"/fhir/Patient/%e0%80%ae", "path.utf8"),
        (b"/fhir/Patient/\xc0\xae", "path.characters"),
        (b"/fhir/Patient/1\x00", "path.characters"),
        (b"/fhir/Patient/1\r\n", "path.characters"),
        (b"/fhir/Patient/1;x=y", "path.characters"),
        (b"/fhir/Patient\\1", "path.characters"),
        (b"/fhir/patient/1", "path.type-case"),
        (b"/fhir/OBSERVATION", "path.type-case"),
        (b"fhir/Patient", "path.not-absolute"),
        (b"/fhir/" + b"a" * 3000, "path.too-long"),
    ],
)
def test_refused_paths(path: bytes, rule: str) -> None:
    assert [issue.rule for issue in check_raw_path(path)] == [rule]


def test_a_type_case_hint_names_the_real_type() -> None:
    assert "'Patient'" in check_raw_path(b"/fhir/PATIENT")[0].message


@pytest.mark.parametrize(
    ("headers", "rule"),
    [
        ([("Content-Length", "3"), ("Transfer-Encoding", "chunked")], "header.smuggling"),
        ([("Transfer-Encoding", "chunked, identity")], "header.transfer-encoding"),
        ([("Transfer-Encoding", "chunked"), ("transfer-encoding", "chunked")], "header.duplicate"),
        ([("Content-Length", "3"), ("content-length", "3")], "header.duplicate"),
        ([("Content-Length", "+3")], "header.content-length"),
        ([(b"X-A", b"a\r\nX-B: 1")], "header.control"),
        ([("Transfer-Encoding ", "chunked")], "header.name"),
        ([("Authorization", "Bearer a"), ("authorization", "Bearer b")], "header.duplicate"),
    ],
)
def test_refused_headers(headers: list[tuple[str | bytes, str | bytes]], rule: str) -> None:
    assert rule in [issue.rule for issue in check_headers(headers)]


def test_ordinary_headers_pass() -> None:
    headers = [
        ("Host", "x"),
        ("Accept", "application/fhir+json"),
        ("Content-Length", "10"),
        ("X-A", "1"),
        ("X-A", "2"),
    ]
    assert check_headers(headers) == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_raw_path_is_judged_without_crashing(raw: bytes) -> None:
    for issue in check_raw_path(b"/fhir/" + raw):
        assert issue.status in (400, 414)
