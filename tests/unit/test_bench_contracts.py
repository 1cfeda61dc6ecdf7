"""The data-contract micro cases: the searchset they shape, the contracts, and the checks before timing."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))  # bench/ is a directory of scripts, not a package

import contract_cases  # noqa: E402
import micro_cases  # noqa: E402

from phigate.shaping.tally import Tally  # noqa: E402

CASES = {c.name: c for c in micro_cases.CASES}


@pytest.fixture(scope="module")
def lab() -> contract_cases.Shaping:
    value = CASES["contract-lab-100"].setup().value
    assert isinstance(value, contract_cases.Shaping)
    return value


@pytest.fixture(scope="module")
def research() -> contract_cases.Shaping:
    value = CASES["contract-safe-harbor-100"].setup().value
    assert isinstance(value, contract_cases.Shaping)
    return value


def test_the_searchset_is_the_upstreams_first_page_of_recent_lab_results(lab: contract_cases.Shaping) -> None:
    bundle = orjson.loads(lab.body)
    found = contract_cases.recent_labs(micro_cases.demo_resources())
    assert (bundle["type"], bundle["total"]) == ("searchset", len(found))
    assert len(found) > contract_cases.ENTRIES
    entries = bundle["entry"]
    assert len(entries) == contract_cases.ENTRIES == 100
    assert [e["resource"]["id"] for e in entries] == [r["id"] for r in found[:100]]
    assert all(e["fullUrl"].startswith(contract_cases.UPSTREAM_BASE + "/Observation/") for e in entries)
    assert all(e["search"] == {"mode": "match"} for e in entries)
    times = [e["resource"]["effectiveDateTime"] for e in entries]
    assert times == sorted(times, reverse=True)
    assert min(t[:10] for t in times) >= "2025-10-03"  # inside the 90 days before 2026-01-01
    assert any(link["relation"] == "next" for link in bundle["link"])


def test_the_lab_contract_keeps_every_entry_with_its_seven_elements(lab: contract_cases.Shaping) -> None:
    shaped = contract_cases.shape(lab)
    assert contract_cases.filtered_every_entry(shaped) is None
    allowed = {"resourceType", "id", "meta", "status", "category", "code", "subject", "effectiveDateTime",
               "valueQuantity", "valueCodeableConcept", "valueString", "referenceRange"}  # fmt: skip
    entries = orjson.loads(shaped.body)["entry"]
    assert all(set(e["resource"]) <= allowed for e in entries)
    assert all(e["fullUrl"].startswith(contract_cases.PUBLIC_BASE + "/") for e in entries)
    assert orjson.loads(lab.body)["entry"][0]["resource"].get("performer")  # the input is not changed


def test_safe_harbor_masks_every_entry_and_leaves_no_original_id(research: contract_cases.Shaping) -> None:
    shaped = contract_cases.shape(research)
    assert contract_cases.masked_every_entry(shaped) is None
    ids = {e["resource"]["id"] for e in orjson.loads(research.body)["entry"]}
    text = shaped.body.decode()
    assert not [i for i in ids if i in text]
    assert research.keys is not None and research.contract.masking is not None


def test_the_baseline_only_reserialises_the_same_bundle(lab: contract_cases.Shaping) -> None:
    assert orjson.loads(contract_cases.reserialise(lab)) == orjson.loads(lab.body)


def test_the_checks_refuse_a_result_that_did_not_take_the_timed_path(
    lab: contract_cases.Shaping, research: contract_cases.Shaping
) -> None:
    assert contract_cases.masked_every_entry(contract_cases.shape(lab)) == "no value was masked"
    assert contract_cases.filtered_every_entry(contract_cases.shape(research)) == "no element was removed"
    assert "not a shaped body" in (contract_cases.filtered_every_entry(b"{}") or "")
    removed = Tally("c")
    removed.entry_removed("outside-search-constraints")
    refused = contract_cases.Shaped(b'{"entry": []}', removed)
    assert "entries were removed" in (contract_cases.filtered_every_entry(refused) or "")
    short = contract_cases.Shaped(orjson.dumps({"entry": [{}] * 99}), Tally("c"))
    assert contract_cases.masked_every_entry(short) == "99 entries left, expected 100"


def test_too_few_results_for_a_page_is_a_setup_error() -> None:
    with pytest.raises(ValueError, match="only 3 laboratory Observations"):
        contract_cases.searchset_body([{"id": "x"}] * 3)


def test_the_summary_names_only_what_shaping_did() -> None:
    tally = Tally("c")
    assert contract_cases.summary(tally) == "nothing changed"
    tally.element_removed("rule", 400)
    tally.masked("m")
    assert contract_cases.summary(tally) == "400 elements removed, 1 values masked"


def test_the_contract_cases_run_in_the_micro_section() -> None:
    for name in ("contract-lab-100", "contract-safe-harbor-100"):
        case = CASES[name]
        assert case.measured is contract_cases.shape and case.baseline is contract_cases.reserialise
        assert "pass-through" in case.about
