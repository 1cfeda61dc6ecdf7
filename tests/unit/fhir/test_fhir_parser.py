from __future__ import annotations

from dataclasses import dataclass

import pytest

from phigate.errors import MethodNotAllowed, NotFound, RequestError
from phigate.fhir.parser import parse_request
from phigate.fhir.request import Compartment, FhirRequest, Interaction, Level
from phigate.fhir.search import Include


@dataclass(frozen=True)
class Want:
    interaction: Interaction
    level: Level
    resource_type: str | None = None
    id: str | None = None
    version_id: str | None = None
    compartment: Compartment | None = None
    operation: str | None = None
    conditional: bool = False


In, Lv = Interaction, Level
P1 = Compartment("Patient", "123")

ROUTES = [
    ("GET", "", "", Want(In.SEARCH, Lv.SYSTEM)),
    ("GET", "/", "_type=Patient", Want(In.SEARCH, Lv.SYSTEM)),
    ("POST", "/", "", Want(In.BATCH, Lv.SYSTEM)),
    ("POST", "", "", Want(In.BATCH, Lv.SYSTEM)),
    ("GET", "/metadata", "", Want(In.CAPABILITIES, Lv.SYSTEM)),
    ("HEAD", "/metadata", "", Want(In.CAPABILITIES, Lv.SYSTEM)),
    ("GET", "/_history", "_since=2020", Want(In.HISTORY, Lv.SYSTEM)),
    ("POST", "/_search", "", Want(In.SEARCH, Lv.SYSTEM)),
    ("GET", "/$export", "", Want(In.OPERATION, Lv.SYSTEM, operation="export")),
    ("POST", "/$export", "", Want(In.OPERATION, Lv.SYSTEM, operation="export")),
    ("GET", "/Patient", "name=x", Want(In.SEARCH, Lv.TYPE, "Patient")),
    ("GET", "Patient", "", Want(In.SEARCH, Lv.TYPE, "Patient")),
    ("GET", "/Patient/", "", Want(In.SEARCH, Lv.TYPE, "Patient")),
    ("POST", "/Patient", "", Want(In.CREATE, Lv.TYPE, "Patient")),
    ("PUT", "/Patient", "identifier=a|b", Want(In.UPDATE, Lv.TYPE, "Patient", conditional=True)),
    ("PATCH", "/Patient", "identifier=a|b", Want(In.PATCH, Lv.TYPE, "Patient", conditional=True)),
    ("DELETE", "/Patient", "identifier=a|b", Want(In.DELETE, Lv.TYPE, "Patient", conditional=True)),
    ("POST", "/Observation/_search", "code=x", Want(In.SEARCH, Lv.TYPE, "Observation")),
    ("GET", "/Patient/_history", "", Want(In.HISTORY, Lv.TYPE, "Patient")),
    ("GET", "/Patient/$export", "", Want(In.OPERATION, Lv.TYPE, "Patient", operation="export")),
    ("POST", "/Patient/$match", "", Want(In.OPERATION, Lv.TYPE, "Patient", operation="match")),
    ("GET", "/ValueSet/$validate-code", "", Want(In.OPERATION, Lv.TYPE, "ValueSet",
                                                 operation="validate-code")),
    ("GET", "/Patient/123", "", Want(In.READ, Lv.INSTANCE, "Patient", "123")),
    ("HEAD", "/Patient/123", "", Want(In.READ, Lv.INSTANCE, "Patient", "123")),
    ("GET", "/Patient/a.b-C", "_elements=name", Want(In.READ, Lv.INSTANCE, "Patient", "a.b-C")),
    ("PUT", "/Patient/123", "", Want(In.UPDATE, Lv.INSTANCE, "Patient", "123")),
    ("PATCH", "/Patient/123", "", Want(In.PATCH, Lv.INSTANCE, "Patient", "123")),
    ("DELETE", "/Patient/123", "", Want(In.DELETE, Lv.INSTANCE, "Patient", "123")),
    ("GET", "/Patient/123/_history", "", Want(In.HISTORY, Lv.INSTANCE, "Patient", "123")),
    ("GET", "/Patient/123/_history/2", "", Want(In.VREAD, Lv.INSTANCE, "Patient", "123", "2")),
    ("GET", "/Patient/123/$everything", "", Want(In.OPERATION, Lv.INSTANCE, "Patient", "123",
                                                 operation="everything")),
    ("POST", "/Patient/123/$everything", "", Want(In.OPERATION, Lv.INSTANCE, "Patient", "123",
                                                  operation="everything")),
    ("GET", "/Group/1/$export", "", Want(In.OPERATION, Lv.INSTANCE, "Group", "1", operation="export")),
    ("GET", "/Patient/123/Observation", "code=x", Want(In.SEARCH, Lv.COMPARTMENT, "Observation",
                                                       compartment=P1)),
    ("GET", "/Patient/123/Patient", "", Want(In.SEARCH, Lv.COMPARTMENT, "Patient", compartment=P1)),
    ("GET", "/Patient/123/*", "", Want(In.SEARCH, Lv.COMPARTMENT, None, compartment=P1)),
    ("POST", "/Patient/123/Observation/_search", "", Want(In.SEARCH, Lv.COMPARTMENT, "Observation",
                                                          compartment=P1)),
    ("POST", "/Patient/123/*/_search", "", Want(In.SEARCH, Lv.COMPARTMENT, None, compartment=P1)),
    ("GET", "/Encounter/9/Observation", "", Want(In.SEARCH, Lv.COMPARTMENT, "Observation",
                                                  compartment=Compartment("Encounter", "9"))),
    ("GET", "/Practitioner/9/Organization", "", Want(In.SEARCH, Lv.COMPARTMENT, "Organization",
                                                      compartment=Compartment("Practitioner", "9"))),
    ("GET", "/%50atient/12%33", "", Want(In.READ, Lv.INSTANCE, "Patient", "123")),
    ("GET", "/Patient/%24everything", "", Want(In.OPERATION, Lv.TYPE, "Patient", operation="everything")),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "query", "want"), ROUTES)
def test_routes(method: str, path: str, query: str, want: Want) -> None:
    request = parse_request(method, path, query)
    got = Want(request.interaction, request.level, request.resource_type, request.id, request.version_id,
               request.compartment, request.operation, request.conditional)  # fmt: skip
    assert got == want
    assert request.method == method


def test_params_and_includes_travel_with_the_request() -> None:
    request = parse_request("GET", "/Observation", "code=a,b&_include=Observation:subject&_revinclude=*")
    assert request.named("code")[0].raw_values == ("a", "b")
    assert request.includes == (Include("Observation", "subject"),)
    assert request.revincludes == (Include(None, "*", wildcard=True),)
    assert request.to_query() == "code=a,b&_include=Observation:subject&_revinclude=*"


def test_form_body_reads_plus_as_space() -> None:
    request = parse_request("POST", "/Patient/_search", "name=John+Smith", body_is_form=True)
    assert request.params[0].raw_values == ("John Smith",)
    assert parse_request("GET", "/Patient", "name=John+Smith").params[0].raw_values == ("John+Smith",)


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("PUT", "/", ""),
        ("DELETE", "", ""),
        ("POST", "/metadata", ""),
        ("DELETE", "/_history", ""),
        ("GET", "/_search", ""),
        ("PUT", "/$export", ""),
        ("DELETE", "/$export", ""),
        ("PUT", "/Patient", ""),
        ("PATCH", "/Patient", ""),
        ("DELETE", "/Patient", ""),
        ("GET", "/Patient/_search", ""),
        ("POST", "/Patient/_history", ""),
        ("DELETE", "/Patient/$export", ""),
        ("POST", "/Patient/123", ""),
        ("POST", "/Patient/123/_history", ""),
        ("DELETE", "/Patient/123/_history/2", ""),
        ("PUT", "/Patient/123/$everything", ""),
        ("POST", "/Patient/123/Observation", ""),
        ("DELETE", "/Patient/123/Observation", ""),
        ("GET", "/Patient/123/Observation/_search", ""),
        ("OPTIONS", "/Patient", ""),
        ("TRACE", "/Patient/1", ""),
        ("get", "/Patient/1", ""),
        ("CONNECT", "", ""),
    ],
)
def test_method_not_allowed(method: str, path: str, query: str) -> None:
    with pytest.raises(MethodNotAllowed) as caught:
        parse_request(method, path, query)
    assert caught.value.status == 405


@pytest.mark.parametrize(
    ("method", "path", "named"),
    [
        ("GET", "/Nope", "Nope"),
        ("GET", "/Nope/1", "Nope"),
        ("GET", "/DataElement/1", "DataElement"),
        ("GET", "/Patient/1/Nope", "Nope"),
        ("GET", "/patient/1", None),
        ("GET", "/nope", None),
        ("GET", "/_nope", None),
        ("GET", "/P%C3%A4tient", None),
        ("GET", "/Pa_tient/1", None),
        ("GET", "/X/1", None),  # too short to be a type name
        ("GET", "/Patient/_nope", None),
        ("GET", "/Patient/1/_nope", None),
        ("GET", "/Patient/1/$everything/x", None),
        ("GET", "/Patient/1/Observation/x", None),
        ("GET", "/Observation/1/Patient", "Observation"),  # not a compartment type
        ("GET", "/Patient/1/Organization", "Organization"),  # not in the Patient compartment
    ],
)
def test_not_found(method: str, path: str, named: str | None) -> None:
    with pytest.raises(NotFound) as caught:
        parse_request(method, path, "")
    assert caught.value.status == 404
    if named is None:
        assert "'" not in caught.value.message
    else:
        assert f"'{named}'" in caught.value.message


@pytest.mark.parametrize(
    "path",
    [
        "//Patient",
        "/Patient//1",
        "/Patient/1//",
        "/Patient/1/_history/2/x",
        "/Patient/1/_history/2/$meta",
        "/a/b/c/d/e",
        "/Patient/_history/1",
        "/Patient/$everything/1",
        "/Patient/%2F1",
        "/Patient/a%2fb",
        "/Patient/a%5Cb",
        "/Patient/.",
        "/Patient/..",
        "/Patient/%2E%2E",
        "/Patient/%2e",
        "/Patient/a%00",
        "/Patient/a%0D%0Ab",
        "/Patient/a\x00",
        "/Patient/a%",
        "/Patient/a%zz",
        "/Patient/%FF",
        "/Patient/" + "a" * 65,
        "/Patient/a b",
        "/Patient/a_b",
        "/Patient/1/_history/" + "9" * 65,
        "/Patient/$",
        "/Patient/$1abc",
        "/Patient/$every_thing",
        "/$",
        "/Patient/" + "a" * 2048,
    ],
)
def test_malformed_paths(path: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_request("GET", path, "")
    assert type(caught.value) is RequestError
    assert caught.value.status == 400
    assert "'" not in caught.value.message


def test_conditional_write_needs_criteria() -> None:
    with pytest.raises(RequestError, match="criteria"):
        parse_request("DELETE", "/Patient", "_format=json&_count=1")


def test_query_errors_surface_from_parse_request() -> None:
    with pytest.raises(RequestError, match="'_count'"):
        parse_request("GET", "/Patient", "_count=lots")


def test_ids_up_to_64_characters() -> None:
    assert parse_request("GET", "/Patient/" + "a" * 64, "").id == "a" * 64


# --- the request value -------------------------------------------------------------------------


def test_refine_bundle() -> None:
    batch = parse_request("POST", "/", "")
    assert batch.refine_bundle("transaction").interaction is Interaction.TRANSACTION
    assert batch.refine_bundle("batch").interaction is Interaction.BATCH
    with pytest.raises(RequestError):
        batch.refine_bundle("collection")
    with pytest.raises(RequestError):
        parse_request("GET", "/Patient/1", "").refine_bundle("batch")


@pytest.mark.parametrize(
    ("method", "path", "read_only"),
    [
        ("GET", "/Patient/1", True),
        ("GET", "/Patient", True),
        ("GET", "/metadata", True),
        ("GET", "/Patient/1/_history/2", True),
        ("GET", "/Patient/1/$everything", True),
        ("POST", "/Patient/1/$everything", False),
        ("POST", "/Patient", False),
        ("PUT", "/Patient/1", False),
        ("DELETE", "/Patient/1", False),
        ("POST", "/", False),
    ],
)
def test_is_read_only(method: str, path: str, read_only: bool) -> None:
    assert parse_request(method, path, "").is_read_only is read_only


@pytest.mark.parametrize(
    ("path", "patient_id"),
    [
        ("/Patient/7", "7"),
        ("/Patient/7/_history/1", "7"),
        ("/Patient/7/Observation", "7"),
        ("/Patient/7/$everything", "7"),
        ("/Encounter/7/Observation", None),
        ("/Observation/7", None),
        ("/Patient", None),
    ],
)
def test_patient_id(path: str, patient_id: str | None) -> None:
    assert parse_request("GET", path, "").patient_id == patient_id


def test_operation_level() -> None:
    assert parse_request("GET", "/Patient/1/$everything", "").operation_level is Level.INSTANCE
    assert parse_request("GET", "/Patient/1", "").operation_level is None


def test_request_is_frozen() -> None:
    request = parse_request("GET", "/Patient/1", "")
    assert isinstance(request, FhirRequest)
    with pytest.raises(AttributeError):
        request.id = "2"  # type: ignore[misc]
