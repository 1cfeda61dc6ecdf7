"""The micro section of the benchmark: its cases, the side-by-side timer (on a fake clock), the output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))  # bench/ is a directory of scripts, not a package

import micro  # noqa: E402
import micro_cases  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402
import scenarios  # noqa: E402

from phigate.fhir.request import Interaction  # noqa: E402
from phigate.guard.validation import inspect_request  # noqa: E402


class FakeClock:
    """perf_counter_ns that only the timed callables move, so every figure is exact."""

    def __init__(self) -> None:
        self.ns = 0
        self.calls: dict[str, int] = {"measured": 0, "baseline": 0}

    def __call__(self) -> int:
        return self.ns

    def work(self, side: str, ns: int) -> None:
        self.calls[side] += 1
        self.ns += ns


def fake_case(clock: FakeClock, **changes: Any) -> micro.MicroCase:
    fields: dict[str, Any] = {
        "name": "fake",
        "request": "GET /fhir/x",
        "about": "a test case",
        "setup": lambda: micro.Prepared(7, "seven"),
        "measured": lambda v: clock.work("measured", 300 * v),  # 2.1 µs per call
        "measured_label": "work",
        "baseline": lambda v: clock.work("baseline", 100 * v),  # 0.7 µs per call
        "baseline_label": "less work",
    }
    return micro.MicroCase(**{**fields, **changes})


def timed(clock: FakeClock, **changes: Any) -> micro.MicroResult:
    return micro.time_case(fake_case(clock, **changes), seconds=0.01, warmup_s=0.001, batches=4, clock=clock)


def test_both_sides_are_timed_in_batches_and_compared_by_their_medians() -> None:
    result = timed(FakeClock())
    assert result.verdict == "ok" and result.detail == "seven"
    assert result.measured is not None and result.baseline is not None
    assert len(result.measured.batch_ns) == len(result.baseline.batch_ns) == 4
    assert result.measured.median_us == pytest.approx(2.1)
    assert result.baseline.median_us == pytest.approx(0.7)
    assert result.added_us == pytest.approx(1.4)
    assert result.ratio == pytest.approx(3.0)
    # a batch is sized from the warm-up to take seconds / (2 x batches): 1.25 ms here
    assert result.measured.calls_per_batch == int(1.25e6 / 2100)
    assert result.baseline.calls_per_batch == int(1.25e6 / 700)


def test_a_case_whose_check_fails_is_not_timed() -> None:
    clock = FakeClock()
    result = timed(clock, check=lambda outcome: "the request was not accepted: search.unknown-param")
    assert result.verdict == "FAILED" and result.measured is None
    assert result.problems == ("the request was not accepted: search.unknown-param",)
    assert clock.calls == {"measured": 1, "baseline": 0}  # the one call the check looked at
    assert result.added_us == 0.0 and result.ratio == 0.0


def test_a_broken_setup_or_baseline_fails_its_case_with_the_reason() -> None:
    def setup() -> micro.Prepared:
        raise ValueError("no patient with 40 records")

    result = timed(FakeClock(), setup=setup)
    assert result.verdict == "FAILED"
    assert result.problems == ("ValueError: no patient with 40 records",)
    clock = FakeClock()
    empty: dict[str, bytes] = {}
    result = timed(clock, baseline=lambda v: empty["body"])
    assert result.problems == ("KeyError: 'body'",) and clock.calls["measured"] == 1


def test_the_table_lines_and_json_give_both_figures_the_difference_and_the_ratio() -> None:
    ok, broken = timed(FakeClock()), timed(FakeClock(), check=lambda outcome: "refused | twice")
    lines = micro.table([ok, broken]).splitlines()
    assert len(lines) == 4 and all(line.count("|") == lines[0].count("|") for line in lines)
    assert lines[2] == (
        "| fake | GET /fhir/x (seven) | work | 2.10 | less work | 0.70 | +1.40 | 3.0x "
        "| ok (batches 2.10-2.10 µs) |"
    )
    assert lines[3] == (
        "| fake | GET /fhir/x (seven) | work |  | less work |  |  |  | FAILED: refused / twice |"
    )
    assert micro.lines([ok, broken]) == ["fake: work 2.10 µs, less work 0.70 µs per request: +1.40 µs (3.0x)"]
    doc = json.loads(json.dumps(micro.document([ok, broken])))
    assert doc[0]["measured"]["median_us"] == pytest.approx(2.1)
    assert doc[0]["baseline"]["label"] == "less work" and len(doc[0]["baseline"]["batch_us"]) == 4
    assert doc[0]["added_us_per_request"] == pytest.approx(1.4) and doc[0]["ratio"] == pytest.approx(3.0)
    assert doc[1]["verdict"] == "FAILED" and doc[1]["measured"] is None
    assert [r.case.name for r in micro.failed([ok, broken])] == ["fake"]


@pytest.mark.parametrize(
    ("value", "signed", "text"),
    [(2.0706, False, "2.07"), (41.27, False, "41.3"), (8707.6, False, "8,708"), (253.04, True, "+253.0"),
     (-0.5, True, "-0.50"), (-1500, True, "-1,500")],
)  # fmt: skip
def test_microseconds_keep_about_three_significant_digits(value: float, signed: bool, text: str) -> None:
    assert micro.us(value, signed=signed) == text


def test_the_run_result_and_latest_md_carry_the_micro_cases() -> None:
    ok, broken = timed(FakeClock()), timed(FakeClock(), check=lambda outcome: "refused")
    doc = report.document([], {"micro_seconds": 2.5}, {}, [ok, broken])
    assert [case["name"] for case in doc["micro"]] == ["fake", "fake"]
    assert doc["failed"] == ["fake"] and "perf_counter_ns" in doc["micro_note"]
    text = report.markdown([], {}, {}, [ok])
    assert "## In-process (micro)" in text and "| fake | GET /fhir/x (seven) |" in text
    assert "- fake: work 2.10 µs" in text
    assert "In-process" not in report.markdown([], {}, {})
    assert report.document([], {}, {})["micro"] == []


def test_micro_cases_have_their_own_names() -> None:
    names = [c.name for c in micro_cases.CASES]
    assert len(names) == len(set(names))
    assert not set(names) & {s.name for s in scenarios.SCENARIOS}
    assert {"validate-create", "validate-transaction-40", "validate-search"} <= set(names)


@pytest.mark.parametrize("case", micro_cases.CASES, ids=lambda c: c.name)
def test_every_case_times_a_request_the_gateway_accepts(case: micro.MicroCase) -> None:
    prepared = case.setup()
    assert case.check(case.measured(prepared.value)) is None
    assert case.baseline(prepared.value) is not None


def cases() -> dict[str, Any]:
    return {c.name: c.setup().value for c in micro_cases.CASES}


def test_the_create_is_a_typical_lab_result_as_a_client_posts_it() -> None:
    request = cases()["validate-create"]
    body = orjson.loads(request.body)
    assert (request.method, request.raw_path, request.query) == ("POST", b"/fhir/Observation", "")
    assert body["resourceType"] == "Observation" and micro_cases.is_laboratory(body)
    assert "id" not in body and "meta" not in body and body["referenceRange"]
    assert 1024 < len(request.body) < 2560
    assert ("content-length", str(len(request.body))) in request.headers
    assert micro_cases.parse_body(request) == body


def test_the_transaction_creates_40_records_of_one_patient_linked_by_urn_uuid() -> None:
    bundle = orjson.loads(cases()["validate-transaction-40"].body)
    assert (bundle["resourceType"], bundle["type"], len(bundle["entry"])) == ("Bundle", "transaction", 40)
    urns = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(urns)) == 40 and all(u.startswith("urn:uuid:") for u in urns)
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert kinds == {"Encounter", "Condition", "Observation"}
    for entry in bundle["entry"]:
        assert entry["request"] == {"method": "POST", "url": entry["resource"]["resourceType"]}
    assert len({e["resource"]["subject"]["reference"] for e in bundle["entry"]}) == 1
    encounters = [e["resource"].get("encounter", {}).get("reference") for e in bundle["entry"]]
    inside = [ref for ref in encounters if ref is not None and ref.startswith("urn:uuid:")]
    assert inside and set(inside) <= set(urns)
    assert not any(ref.startswith("Encounter/") for ref in encounters if ref)  # each visit is in the Bundle


def test_the_search_asks_for_a_demo_patients_lab_results_and_its_baseline_parses_the_same_line() -> None:
    request = cases()["validate-search"]
    assert (request.method, request.raw_path, request.body) == ("GET", b"/fhir/Observation", b"")
    assert request.query.startswith("patient=pat-") and "&_count=50" in request.query
    parsed = micro_cases.parse_line(request)
    assert parsed.interaction is Interaction.SEARCH and parsed.resource_type == "Observation"
    assert {p.name for p in parsed.params} >= {"patient", "category", "date"}


def test_the_check_refuses_to_time_a_request_the_validator_refuses() -> None:
    request = cases()["validate-create"]
    wrong_type = request.body.replace(b'"Observation"', b'"Condition"', 1)
    issues = inspect_request("POST", request.raw_path, "", request.headers, wrong_type, request.config)
    problem = micro_cases.accepted(issues)
    assert problem is not None and problem.startswith("the request was not accepted: fhir.")
    assert micro_cases.accepted([]) is None


def test_the_cases_validate_with_the_gateway_rows_settings() -> None:
    config = micro_cases.bench_guard_config()
    assert config.base == "/fhir" and config.inspection == "block" and config.search.strict


ROWS, CASES = scenarios.SCENARIOS, micro_cases.CASES


def test_choose_runs_everything_by_default_and_only_the_micro_cases_with_micro_only() -> None:
    assert run.choose(ROWS, CASES, [], micro_only=False) == (ROWS, CASES)
    assert run.choose(ROWS, CASES, [], micro_only=True) == ((), CASES)


def test_choose_takes_rows_and_micro_cases_by_name() -> None:
    rows, chosen = run.choose(ROWS, CASES, ["validate-search", "gateway"], micro_only=False)
    assert [r.name for r in rows] == ["gateway"] and [c.name for c in chosen] == ["validate-search"]
    rows, chosen = run.choose(ROWS, CASES, ["gateway"], micro_only=False)
    assert [r.name for r in rows] == ["gateway"] and chosen == ()
    rows, chosen = run.choose(ROWS, CASES, ["validate-create"], micro_only=True)
    assert rows == () and [c.name for c in chosen] == ["validate-create"]


def test_choose_refuses_unknown_names_and_wrk_rows_with_micro_only() -> None:
    unknown = r"unknown row validate-craete; rows are: direct.*; micro cases are: validate-create"
    with pytest.raises(ValueError, match=unknown):
        run.choose(ROWS, CASES, ["validate-craete"], micro_only=False)
    with pytest.raises(ValueError, match="--micro-only runs no wrk row, but --only names gateway"):
        run.choose(ROWS, CASES, ["gateway"], micro_only=True)


def test_micro_flags() -> None:
    args = run._arguments(["--micro-only", "--micro-seconds", "1", "--micro-warmup", "0"])
    assert args.micro_only and args.micro_seconds == 1.0 and args.micro_warmup == 0.0
    defaults = run._arguments([])
    assert not defaults.micro_only and (defaults.micro_seconds, defaults.micro_warmup) == (2.5, 0.5)
    with pytest.raises(SystemExit):
        run._arguments(["--micro-seconds", "0"])
