"""The micro cases of ``make bench``: one :class:`~micro.MicroCase` per row, in run order.

Inputs come from the demo EHR's synthetic data (``phigate.demo.synthetic.generate()``, seeded,
so every run times the same bytes). Validation runs with the ``GuardConfig`` that the gateway
rows' own config gives (``pipeline.validate.guard_config``), so the micro rows time the checks
``phigate serve`` makes. The data-contract cases (shaping a searchset) are built in
``contract_cases``, the audited read in ``audit_cases``. Adding a case is one entry in
:data:`CASES` (and its setup).
"""

from __future__ import annotations

import functools
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import audit_cases
import contract_cases
import orjson
from gateway import gateway_config
from micro import MicroCase, Prepared

from phigate.demo.synthetic import generate
from phigate.fhir.parser import parse_request
from phigate.fhir.request import FhirRequest
from phigate.guard.issues import Issue
from phigate.guard.validation import GuardConfig, inspect_request
from phigate.pipeline.validate import guard_config
from phigate.settings import load_settings

BASE = "/fhir"
BUNDLE_ENTRIES = 40
BUNDLE_TYPES = ("Encounter", "Condition", "Observation")  # in entry order: referenced before referring
SEARCH_QUERY = "patient={patient}&category=laboratory&date=ge2025-01-01&_count=50"
FHIR_JSON = "application/fhir+json"
# What a FHIR client library sends besides the content headers (values do not matter to the checks).
CLIENT_HEADERS = (
    ("host", "127.0.0.1:8443"),
    ("user-agent", "phigate-bench"),
    ("accept", FHIR_JSON),
    ("accept-encoding", "gzip"),
)
Header = tuple[str, str]


class Request:
    """One request as the validate stage sees it (``Exchange`` fields), and the config it runs with."""

    __slots__ = ("body", "config", "headers", "method", "path", "query", "raw_path")

    def __init__(self, method: str, path: str, query: str, body: bytes, config: GuardConfig) -> None:
        self.method, self.path, self.query, self.body, self.config = method, path, query, body, config
        self.raw_path = path.encode("ascii")
        content = [("content-type", FHIR_JSON), ("content-length", str(len(body)))] if body else []
        self.headers: list[Header] = [*CLIENT_HEADERS, *content]


def inspect(request: Request) -> list[Issue]:
    """The validate stage's work: ``inspect_request`` exactly as ``pipeline.validate.Validate`` calls it."""
    return inspect_request(
        request.method, request.raw_path, request.query, request.headers, request.body, request.config
    )


def parse_body(request: Request) -> Any:
    """Without validation the gateway still parses a JSON body once (orjson)."""
    return orjson.loads(request.body)


def parse_line(request: Request) -> FhirRequest:
    """Without validation the gateway still parses the FHIR request line (the parse stage)."""
    return parse_request(request.method, request.path[len(BASE) :], request.query)


def accepted(issues: object) -> str | None:
    """A validation case must time an accepted request, not a refusal."""
    if isinstance(issues, list) and not issues:
        return None
    rules = sorted({str(getattr(i, "rule", i)) for i in issues}) if isinstance(issues, list) else []
    return f"the request was not accepted: {', '.join(rules) or repr(issues)[:80]}"


@functools.cache
def bench_guard_config() -> GuardConfig:
    """The GuardConfig of the gateway rows: their generated YAML, loaded and mapped as at start-up."""
    with tempfile.TemporaryDirectory(prefix="phigate-bench-micro-") as tmp:
        path = gateway_config(Path(tmp), "http://127.0.0.1:9", 9, 9, tls=False)
        settings = load_settings(path, environ={}).settings
    return guard_config(settings, BASE)


@functools.cache
def demo_resources() -> tuple[dict[str, Any], ...]:
    return tuple(generate())


def client_json(resource: dict[str, Any]) -> bytes:
    """A resource as a client sends it: pretty-printed, without the server's id and meta."""
    sent = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    return orjson.dumps(sent, option=orjson.OPT_INDENT_2)


def is_laboratory(resource: dict[str, Any]) -> bool:
    codes = (c.get("code") for cat in resource.get("category", []) for c in cat.get("coding", []))
    return resource["resourceType"] == "Observation" and "laboratory" in codes


def typical_lab_observation(resources: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The laboratory Observation of median size (a typical lab result, with its reference range)."""
    labs = sorted((r for r in resources if is_laboratory(r)), key=lambda r: (len(orjson.dumps(r)), r["id"]))
    return labs[(len(labs) - 1) // 2]


def transaction(resources: Sequence[dict[str, Any]], entries: int = BUNDLE_ENTRIES) -> dict[str, Any]:
    """A transaction creating ``entries`` of one patient's encounters, conditions and observations.

    Each entry has a ``urn:uuid`` fullUrl, and a reference to an encounter of the same Bundle
    points at that fullUrl, as a client creating a visit's records in one transaction writes it.
    """
    chosen = _one_patients_records(resources, entries)
    urns = {f"{r['resourceType']}/{r['id']}": uuid.uuid5(uuid.NAMESPACE_URL, r["id"]).urn for r in chosen}
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": urns[f"{r['resourceType']}/{r['id']}"],
                "resource": _pointing_at(orjson.loads(client_json(r)), urns),
                "request": {"method": "POST", "url": r["resourceType"]},
            }
            for r in chosen
        ],
    }


def _one_patients_records(resources: Sequence[dict[str, Any]], entries: int) -> list[dict[str, Any]]:
    """The patient with the most such records; their resources in BUNDLE_TYPES order."""
    by_patient: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        subject = r.get("subject", {}).get("reference")
        if r["resourceType"] in BUNDLE_TYPES and subject:
            by_patient.setdefault(subject, []).append(r)
    patient = max(sorted(by_patient), key=lambda p: len(by_patient[p]))
    ordered = sorted(by_patient[patient], key=lambda r: (BUNDLE_TYPES.index(r["resourceType"]), r["id"]))
    if len(ordered) < entries:
        raise ValueError(f"the demo data has no patient with {entries} such records")
    return ordered[:entries]


def _pointing_at(node: Any, urns: dict[str, str]) -> Any:
    """``node`` with every reference to a resource of the Bundle replaced by its fullUrl."""
    if isinstance(node, list):
        return [_pointing_at(item, urns) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _pointing_at(v, urns) for k, v in node.items()}
    if isinstance(out.get("reference"), str) and out["reference"] in urns:
        out["reference"] = urns[out["reference"]]
    return out


def search_patient(resources: Sequence[dict[str, Any]]) -> str:
    """The id of the patient whose lab results the search case asks for."""
    reference: str = typical_lab_observation(resources)["subject"]["reference"]
    return reference.removeprefix("Patient/")


def create_setup() -> Prepared:
    body = client_json(typical_lab_observation(demo_resources()))
    return Prepared(Request("POST", f"{BASE}/Observation", "", body, bench_guard_config()), _size(body))


def transaction_setup() -> Prepared:
    bundle = transaction(demo_resources())
    body = orjson.dumps(bundle, option=orjson.OPT_INDENT_2)
    detail = f"{len(bundle['entry'])} entries, {_size(body)}"
    return Prepared(Request("POST", BASE, "", body, bench_guard_config()), detail)


def search_setup() -> Prepared:
    query = SEARCH_QUERY.format(patient=search_patient(demo_resources()))
    return Prepared(Request("GET", f"{BASE}/Observation", query, b"", bench_guard_config()), query)


def lab_contract_setup() -> Prepared:
    return contract_cases.lab_setup(demo_resources())


def safe_harbor_setup() -> Prepared:
    return contract_cases.safe_harbor_setup(demo_resources())


def _size(body: bytes) -> str:
    return f"{len(body) / 1024:.1f} KB JSON"


VALIDATION = "inspect_request"
SHAPING = "loads + shape_document + dumps"
RESERIALISE = "orjson loads + dumps"

CASES: tuple[MicroCase, ...] = (
    MicroCase(
        "validate-create", "POST /fhir/Observation",
        "input validation of a typical create (a lab result from the demo data), against parsing its body",
        create_setup, inspect, VALIDATION, parse_body, "orjson.loads", accepted,
    ),
    MicroCase(
        "validate-transaction-40", "POST /fhir (transaction Bundle)",
        "input validation of a 40-entry transaction (one patient's encounters, conditions and lab "
        "results, urn:uuid references), against parsing its body",
        transaction_setup, inspect, VALIDATION, parse_body, "orjson.loads", accepted,
    ),
    MicroCase(
        "validate-search", "GET /fhir/Observation",
        "input validation of a lab-results search (search-parameter grammar, inspection), against "
        "parsing the request line alone",
        search_setup, inspect, VALIDATION, parse_line, "parse_request", accepted,
    ),
    MicroCase(
        "contract-lab-100", "searchset of 100 lab Observations",
        "a lab's data contract (element allowlist of 7, category and 90-day date constraints) on a "
        "100-entry searchset: parse, re-check, prune, rewrite, serialise, against parse + serialise "
        "(a pass-through reply is streamed, not parsed: against it all of the measured time is added)",
        lab_contract_setup, contract_cases.shape, SHAPING, contract_cases.reserialise, RESERIALISE,
        contract_cases.filtered_every_entry,
    ),
    MicroCase(
        "contract-safe-harbor-100", "searchset of 100 lab Observations",
        "the Safe Harbor preset (HMAC pseudonyms, dates to the year, ...) on the same searchset, "
        "against parse + serialise (a pass-through reply is not parsed at all)",
        safe_harbor_setup, contract_cases.shape, SHAPING, contract_cases.reserialise, RESERIALISE,
        contract_cases.masked_every_entry,
    ),
    MicroCase(
        "audit-read", "GET /fhir/Patient/1 (token read, reply streamed)",
        "the audit trail on a data read: body hashed and scanned for patients, event built, chained, "
        "spooled with one write() before the last byte, detectors and metrics, and the node's writer "
        "draining the spool into its SQLite store in batches on the same loop; against streaming the "
        "same reply without the audit hook (audit.enabled: false)",
        audit_cases.setup, audit_cases.audited_read, "ExchangeAudit + writer", audit_cases.plain_read,
        "reply streamed", audit_cases.spooled_with_patient,
    ),
)  # fmt: skip
