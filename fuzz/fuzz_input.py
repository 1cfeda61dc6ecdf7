"""Coverage-guided fuzzing (atheris) of the input front: JSON, XML, search parameters, whole requests.

Every input must end in an accepted value or one of phigate's own refusals
(``RequestError`` and its kin); anything else — a crash, a stray exception,
an unbounded recursion — is a finding. Run with ``make fuzz`` (FUZZ_SECONDS,
default 60); the test suite runs it briefly on every CI run.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from phigate.errors import PhigateError
    from phigate.fhir.parser import parse_request
    from phigate.fhir.query import parse_query
    from phigate.guard.issues import InputRefused
    from phigate.guard.json_safety import parse_json
    from phigate.guard.validation import GuardConfig, inspect_request
    from phigate.guard.xml_safety import parse_fhir_xml

CONFIG = GuardConfig()
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CONTENT_TYPES = ("application/fhir+json", "application/fhir+xml", "application/json-patch+json", "text/plain")


def one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    target = provider.ConsumeIntInRange(0, 3)
    try:
        if target == 0:
            parse_json(provider.ConsumeBytes(provider.remaining_bytes()), 64 * 1024, 64)
        elif target == 1:
            parse_fhir_xml(provider.ConsumeBytes(provider.remaining_bytes()), 64 * 1024, 64)
        elif target == 2:
            query = provider.ConsumeUnicodeNoSurrogates(2048)
            parse_query(query, form=provider.ConsumeBool())
            parse_request("GET", "/Observation", query)
        else:
            method = METHODS[provider.ConsumeIntInRange(0, len(METHODS) - 1)]
            path = b"/fhir/" + provider.ConsumeBytes(provider.ConsumeIntInRange(0, 200))
            query = provider.ConsumeUnicodeNoSurrogates(512)
            content_type = CONTENT_TYPES[provider.ConsumeIntInRange(0, len(CONTENT_TYPES) - 1)]
            body = provider.ConsumeBytes(provider.remaining_bytes())
            inspect_request(method, path, query, [("content-type", content_type)], body, CONFIG)
    except (PhigateError, InputRefused):
        return


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
