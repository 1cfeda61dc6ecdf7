from __future__ import annotations

import pytest

from phigate.fhir.request import Interaction
from phigate.guard.issues import InputRefused
from phigate.guard.media import BodyFormat, body_format, parse_media_type, response_format


@pytest.mark.parametrize(
    ("interaction", "content_type", "expected"),
    [
        (Interaction.CREATE, "application/fhir+json", BodyFormat.JSON),
        (Interaction.UPDATE, "application/json; charset=UTF-8", BodyFormat.JSON),
        (Interaction.CREATE, 'application/fhir+json; charset="utf-8"; fhirVersion=4.0', BodyFormat.JSON),
        (Interaction.TRANSACTION, "Application/FHIR+XML", BodyFormat.XML),
        (Interaction.PATCH, "application/json-patch+json", BodyFormat.JSON_PATCH),
        (Interaction.SEARCH, "application/x-www-form-urlencoded", BodyFormat.FORM),
    ],
)
def test_accepted_body_types(interaction: Interaction, content_type: str, expected: BodyFormat) -> None:
    assert body_format(interaction, content_type) is expected


@pytest.mark.parametrize(
    ("interaction", "content_type", "status", "rule"),
    [
        (Interaction.CREATE, None, 415, "media.missing"),
        (Interaction.CREATE, "text/plain", 415, "media.unsupported"),
        (Interaction.CREATE, "application/json-patch+json", 415, "media.unsupported"),
        (Interaction.SEARCH, "application/fhir+json", 415, "media.unsupported"),
        (Interaction.READ, "application/fhir+json", 415, "media.unsupported"),
        (Interaction.CREATE, "application/fhir+json; charset=iso-8859-1", 415, "media.charset"),
        (Interaction.CREATE, "application/fhir+json; fhirVersion=5.0", 415, "media.fhir-version"),
        (Interaction.CREATE, "application/fhir+json; boundary=x", 415, "media.param"),
        (
            Interaction.CREATE,
            "application/fhir+json; charset=utf-8; Charset=utf-8",
            400,
            "media.duplicate-param",
        ),
        (Interaction.CREATE, "application/fhir+json; charset", 400, "media.malformed"),
        (Interaction.CREATE, "application/fhir json", 400, "media.malformed"),
    ],
)
def test_refused_body_types(
    interaction: Interaction, content_type: str | None, status: int, rule: str
) -> None:
    with pytest.raises(InputRefused) as caught:
        body_format(interaction, content_type)
    assert (caught.value.status, caught.value.issues[0].rule) == (status, rule)


def test_xml_can_be_switched_off_per_route() -> None:
    with pytest.raises(InputRefused):
        body_format(Interaction.CREATE, "application/fhir+xml", allow_xml=False)


def test_quoted_parameter_values_are_unescaped() -> None:
    assert parse_media_type('a/b; x="q\\"z"').param("x") == 'q"z'


@pytest.mark.parametrize(
    ("accept", "fmt", "expected"),
    [
        (None, None, "application/fhir+json"),
        ("application/fhir+xml", None, "application/fhir+xml"),
        ("text/html, */*;q=0.1", None, "application/fhir+json"),
        ("application/fhir+json;q=0, application/json", None, "application/json"),
        ("application/*;q=0.5, application/fhir+xml", None, "application/fhir+xml"),
        ("text/html", "json", "application/fhir+json"),
        (None, "application/fhir+xml", "application/fhir+xml"),
    ],
)
def test_response_format(accept: str | None, fmt: str | None, expected: str) -> None:
    assert response_format(accept, fmt) == expected


@pytest.mark.parametrize(
    ("accept", "fmt", "status"),
    [
        ("text/html", None, 406),
        ("application/fhir+json;q=0", None, 406),
        (None, "html", 406),
        (None, "xml", 406),
        ("application/json;q=2", None, 400),
    ],
)
def test_nothing_acceptable(accept: str | None, fmt: str | None, status: int) -> None:
    with pytest.raises(InputRefused) as caught:
        response_format(accept, fmt, allow_xml=fmt != "xml")
    assert caught.value.status == status
