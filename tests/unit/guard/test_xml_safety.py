from __future__ import annotations

import pytest

from phigate.guard.issues import InputRefused
from phigate.guard.xml_safety import parse_fhir_xml

PATIENT = (
    b'<?xml version="1.0" encoding="UTF-8"?><Patient xmlns="http://hl7.org/fhir"><id value="1"/></Patient>'
)


def rule_of(body: bytes, expected_type: str | None = "Patient") -> str:
    with pytest.raises(InputRefused) as caught:
        parse_fhir_xml(body, 100_000, 32, expected_type)
    return caught.value.issues[0].rule


def test_a_fhir_resource_is_parsed() -> None:
    parsed = parse_fhir_xml(PATIENT, 10_000, 10, "Patient")
    assert parsed.resource_type == "Patient"
    assert parsed.root.find("{http://hl7.org/fhir}id") is not None


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE p [<!ENTITY x "y">]><Patient xmlns="http://hl7.org/fhir"><id value="&x;"/></Patient>',
        b'<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><Patient xmlns="http://hl7.org/fhir">&x;</Patient>',
        b'<!DOCTYPE p SYSTEM "http://127.0.0.1:1/x.dtd"><Patient xmlns="http://hl7.org/fhir"/>',
        b'<!DOCTYPE p [<!ENTITY % x SYSTEM "http://127.0.0.1:1/x"> %x;]><Patient xmlns="http://hl7.org/fhir"/>',
        b'<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><Patient xmlns="http://hl7.org/fhir">&b;</Patient>',
    ],
)
def test_dtds_and_entities_are_refused_without_fetching(body: bytes) -> None:
    # The URLs point at a closed local port: a fetch would fail loudly, not be refused by rule.
    assert rule_of(body) == "xml.dtd"


def test_xinclude_is_refused() -> None:
    body = (
        b'<Patient xmlns="http://hl7.org/fhir" xmlns:xi="http://www.w3.org/2001/XInclude">'
        b'<xi:include href="file:///etc/passwd" parse="text"/></Patient>'
    )
    assert rule_of(body) == "xml.xinclude"


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b'<Patient xmlns="http://example.org"/>', "xml.namespace"),
        (b"<Patient/>", "xml.namespace"),
        (b'<Hacker xmlns="http://hl7.org/fhir"/>', "xml.unknown-type"),
        (b'<Observation xmlns="http://hl7.org/fhir"/>', "xml.type-mismatch"),
        (
            b'<?xml version="1.0" encoding="ISO-8859-1"?><Patient xmlns="http://hl7.org/fhir"/>',
            "xml.encoding",
        ),
        (b'<Patient xmlns="http://hl7.org/fhir"><a></Patient>', "xml.syntax"),
        (
            b'<Patient xmlns="http://hl7.org/fhir">' + b"<a>" * 40 + b"</a>" * 40 + b"</Patient>",
            "xml.too-deep",
        ),
        (b'<Patient xmlns="http://hl7.org/fhir">\xff</Patient>', "xml.encoding"),
    ],
)
def test_other_rules(body: bytes, rule: str) -> None:
    assert rule_of(body) == rule


def test_size_limit_is_413() -> None:
    with pytest.raises(InputRefused) as caught:
        parse_fhir_xml(PATIENT, 10, 10)
    assert caught.value.status == 413
