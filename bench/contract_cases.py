"""The data-contract micro cases: a 100-entry searchset shaped as the shape stage does it, against
re-serialising it.

The input is the upstream's answer to a lab's narrowed search: the 100 newest laboratory
Observations of the demo data (``phigate.demo.synthetic.generate()``), as the demo EHR's own
``searchset`` writes a Bundle (``fullUrl`` on the upstream's base, ``search.mode`` match,
``total``, self/first/next links). Every entry is inside the lab contract's search constraints
(``category`` laboratory, ``date=ge{now-90d}`` with ``now`` the demo data's reference date), so
the lab case times the whole of the work on each entry: the constraint re-check, the element
allowlist, the REDACTED label, the ``fullUrl`` rewrite.

The measured work is :func:`shape`, what ``pipeline.shape_body.ShapeBody`` does with a body:
``orjson.loads``, ``shape_document``, ``orjson.dumps``. The baseline, :func:`reserialise`, is the
parse and serialisation alone: the least a gateway that changes the body at all must do. A
response no contract term can change is not parsed at all (it is streamed), so against that
pass-through the whole measured time is added.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

import orjson
from micro import Prepared

from phigate.demo.bundles import Page, searchset
from phigate.demo.store import StoredVersion
from phigate.demo.synthetic import REFERENCE_DATE
from phigate.settings.contracts import ContractsSettings
from phigate.shaping.contracts import Contract, compile_contracts
from phigate.shaping.dates import render_relative
from phigate.shaping.minimise import Bases, shape_document
from phigate.shaping.pseudonyms import PseudonymKeys, VendorKeys
from phigate.shaping.tally import Tally

ENTRIES = 100
UPSTREAM_BASE = "http://127.0.0.1:8080/fhir"  # where the upstream's fullUrls and links point
PUBLIC_BASE = "https://127.0.0.1:8443/fhir"  # where the gateway rewrites them to
NOW = datetime.combine(REFERENCE_DATE, time(0, 0), tzinfo=UTC).timestamp()  # the demo data's "today"
LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
WINDOW = "ge{now-90d}"
SINCE = render_relative(WINDOW, NOW)  # ge2025-10-03T00:00:00Z
SEARCH = (("category", LAB), ("date", SINCE), ("_sort", "-date"), ("_count", str(ENTRIES)))
# The lab contract of the contract integration tests: lab results of the last 90 days, seven elements.
LAB_CONTRACT = {
    "resources": {
        "Observation": {
            "interactions": ["read", "search"],
            "elements": ["status", "category", "code", "subject", "effective", "value", "referenceRange"],
            "search": {"category": LAB, "date": WINDOW},
        }
    },
    "purposes": ["TREAT"],
}
SAFE_HARBOR_CONTRACT = {
    "resources": {"Observation": {"interactions": ["read", "search"]}},
    "purposes": ["HRESCH"],
    "masking": {"preset": "safe-harbor"},
}
VENDOR = "bench-research"
# Fixed: every run masks with the same keys (the cost does not depend on them).
MASKING_ROOT = bytes(range(32))


@dataclass(frozen=True)
class Shaping:
    """One response for the shape stage: the upstream's body and the caller's contract."""

    body: bytes
    contract: Contract
    keys: VendorKeys | None  # the vendor's masking keys, when the contract masks
    bases: Bases
    now: float
    entries: int


@dataclass(frozen=True)
class Shaped:
    body: bytes
    tally: Tally


def shape(s: Shaping) -> Shaped:
    """The shape stage's work on a body: parse once, filter and mask in place, serialise once."""
    document = orjson.loads(s.body)
    tally = Tally(s.contract.key)
    refusal = shape_document(document, s.contract, s.keys, s.now, s.bases, tally)
    if refusal is not None:
        raise ValueError(f"the contract refused the Bundle: {refusal}")
    return Shaped(orjson.dumps(document), tally)


def reserialise(s: Shaping) -> bytes:
    """Parse and serialise the body, no more: the floor for any gateway that changes a JSON body."""
    return orjson.dumps(orjson.loads(s.body))


def recent_labs(resources: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The laboratory Observations of the window (by the date part of their effective time), newest
    first, ties by id: what the upstream finds for the narrowed search."""
    since = SINCE.removeprefix("ge")[:10]
    labs = [r for r in resources if _is_laboratory(r) and str(r.get("effectiveDateTime", ""))[:10] >= since]
    return sorted(labs, key=lambda r: (r["effectiveDateTime"], r["id"]), reverse=True)


def searchset_body(found: Sequence[Mapping[str, Any]], entries: int = ENTRIES) -> bytes:
    """The first page (``entries``) of the Bundle the demo EHR answers the narrowed search with."""
    if len(found) < entries:
        raise ValueError(f"the demo data has only {len(found)} laboratory Observations in the window")
    matches = [
        StoredVersion("Observation", r["id"], 1, r["meta"]["lastUpdated"], dict(r), orjson.dumps(r))
        for r in found[:entries]
    ]
    page = Page(f"{UPSTREAM_BASE}/Observation", list(SEARCH), 0, entries, len(found))
    return orjson.dumps(searchset(UPSTREAM_BASE, page, matches))


def contract(terms: Mapping[str, Any], client: str) -> Contract:
    """``terms`` compiled as the contract of ``client``, exactly as a node compiles ``contracts:``."""
    book = compile_contracts(ContractsSettings.model_validate({"clients": {client: terms}}))
    found = book.for_client(client, VENDOR)
    assert found is not None
    return found


def lab_setup(resources: Sequence[Mapping[str, Any]]) -> Prepared:
    return _prepared(resources, contract(LAB_CONTRACT, "bench-lab"), None)


def safe_harbor_setup(resources: Sequence[Mapping[str, Any]]) -> Prepared:
    keys = PseudonymKeys.from_root(MASKING_ROOT).for_vendor(VENDOR)
    return _prepared(resources, contract(SAFE_HARBOR_CONTRACT, "bench-research"), keys)


def _prepared(resources: Sequence[Mapping[str, Any]], terms: Contract, keys: VendorKeys | None) -> Prepared:
    body = searchset_body(recent_labs(resources))
    value = Shaping(body, terms, keys, Bases((UPSTREAM_BASE,), PUBLIC_BASE), NOW, ENTRIES)
    detail = f"{ENTRIES} entries, {len(body) / 1024:.1f} KB JSON; {summary(shape(value).tally)}"
    return Prepared(value, detail)


def summary(tally: Tally) -> str:
    """What shaping did, in a few words for the table: the counts that are not zero."""
    counts = (
        ("entries removed", tally.entries_removed),
        ("elements removed", tally.elements_removed),
        ("values masked", tally.masked_by),
        ("values redacted", tally.redacted_by),
    )
    done = [f"{sum(c.values()):,} {what}" for what, c in counts if c]
    return ", ".join(done) or "nothing changed"


def filtered_every_entry(result: object) -> str | None:
    """The lab case must keep every entry (all inside the constraints) and prune elements from them."""
    return _kept_all(result) or _unless(
        isinstance(result, Shaped) and bool(result.tally.elements_removed), "no element was removed"
    )


def masked_every_entry(result: object) -> str | None:
    """The Safe Harbor case must keep every entry and mask values in them."""
    return _kept_all(result) or _unless(
        isinstance(result, Shaped) and bool(result.tally.masked_by), "no value was masked"
    )


def _kept_all(result: object) -> str | None:
    if not isinstance(result, Shaped):
        return f"shaping returned {type(result).__name__}, not a shaped body"
    if result.tally.entries_removed:
        return f"entries were removed: {dict(result.tally.entries_removed)}"
    kept = len(orjson.loads(result.body).get("entry", []))
    return None if kept == ENTRIES else f"{kept} entries left, expected {ENTRIES}"


def _unless(holds: bool, problem: str) -> str | None:
    return None if holds else problem


def _is_laboratory(resource: Mapping[str, Any]) -> bool:
    codes = (c.get("code") for cat in resource.get("category", []) for c in cat.get("coding", []))
    return resource.get("resourceType") == "Observation" and "laboratory" in codes
