"""The benchmark harness's pure parts: reading wrk, judging a run, ratios, the table, generated configs."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import yaml

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))  # bench/ is a directory of scripts, not a package

import gateway  # noqa: E402
import nginx  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402
import scenarios  # noqa: E402
import wrk  # noqa: E402

from phigate.settings import load_settings  # noqa: E402

OK_200 = """\
Running 10s test @ http://127.0.0.1:40123/fhir/metadata
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.61ms    2.05ms   1.02s    88.14%
    Req/Sec     8.96k   412.33     9.51k    83.00%
  Latency Distribution
     50%    3.12ms
     75%  850.00us
     90%    6.21ms
     99%   14.44ms
  89194 requests in 10.01s, 196.42MB read
Requests/sec:   8910.96
Transfer/sec:     19.62MB
phigate-bench statuses {"200": 89194}
"""

DENY_WITH_ERRORS = """\
Running 10s test @ http://127.0.0.1:40124/fhir/Patient/1
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   160.15us  459.39us   6.03ms   94.59%
    Req/Sec    12.09k     1.67k   14.00k    95.24%
  Latency Distribution
     50%   28.00us
     75%   94.00us
     90%  251.00us
     99%    2.70ms
  120000 requests in 10.00s, 1.50GB read
  Socket errors: connect 0, read 12, write 0, timeout 3
  Non-2xx or 3xx responses: 119990
Requests/sec:  11999.50
Transfer/sec:      3.92MB
phigate-bench statuses {"401": 119000, "500": 990, "200": 10}
"""


def scenario(name: str, baselines: tuple[str, ...] = (), expect: int = 200) -> scenarios.Scenario:
    return scenarios.Scenario(name, name, "/fhir/metadata", "gateway", "test row", expect, {}, baselines)


def measured(name: str, rps: float, p50: float, baselines: tuple[str, ...] = ()) -> report.Row:
    run_ = wrk.WrkRun(
        requests=int(rps * 10),
        duration_s=10.0,
        requests_per_s=rps,
        bytes_read=0,
        latency_avg_ms=p50,
        latency_max_ms=p50 * 4,
        percentiles_ms={"50": p50, "75": p50, "90": p50 * 2, "99": p50 * 3},
    )
    return report.Row(scenario(name, baselines), url="http://x", run=run_)


def test_parse_wrk_reads_rate_latency_in_every_unit_and_statuses() -> None:
    run_ = wrk.parse_wrk(OK_200)
    assert run_.requests == 89194
    assert run_.duration_s == pytest.approx(10.01)
    assert run_.requests_per_s == pytest.approx(8910.96)
    assert run_.bytes_read == round(196.42 * 1024**2)
    assert run_.latency_avg_ms == pytest.approx(3.61)
    assert run_.latency_max_ms == pytest.approx(1020.0)
    assert run_.percentiles_ms == pytest.approx({"50": 3.12, "75": 0.85, "90": 6.21, "99": 14.44})
    assert run_.socket_errors.total == 0
    assert run_.non_2xx_3xx == 0
    assert run_.statuses == {200: 89194}


def test_parse_wrk_reads_socket_errors_and_non_2xx() -> None:
    run_ = wrk.parse_wrk(DENY_WITH_ERRORS)
    assert (run_.socket_errors.read, run_.socket_errors.timeout, run_.socket_errors.total) == (12, 3, 15)
    assert run_.non_2xx_3xx == 119990
    assert run_.percentiles_ms["50"] == pytest.approx(0.028)
    assert run_.bytes_read == round(1.5 * 1024**3)
    assert run_.statuses == {401: 119000, 500: 990, 200: 10}


@pytest.mark.parametrize(
    "text",
    [
        "unable to connect to 127.0.0.1:1 Connection refused\n",
        OK_200.replace("  Latency Distribution\n", "").replace("     50%    3.12ms\n", ""),
        OK_200.replace("Requests/sec:   8910.96\n", ""),
    ],
)
def test_parse_wrk_refuses_output_missing_a_needed_line(text: str) -> None:
    with pytest.raises(wrk.WrkOutputError):
        wrk.parse_wrk(text)


def test_a_clean_run_meets_its_expectation() -> None:
    assert wrk.unexpected(wrk.parse_wrk(OK_200), 200) == []


def test_a_200_row_with_errors_or_other_statuses_is_flagged() -> None:
    problems = wrk.unexpected(wrk.parse_wrk(DENY_WITH_ERRORS), 200)
    assert any("socket errors" in p for p in problems)
    assert any("119990 non-2xx" in p for p in problems)
    assert any("119000 x 401" in p for p in problems)


def test_a_deny_row_must_see_only_its_status() -> None:
    problems = wrk.unexpected(wrk.parse_wrk(DENY_WITH_ERRORS), 401)
    assert any("10 responses were 2xx/3xx" in p for p in problems)
    assert any("990 x 500" in p and "10 x 200" in p for p in problems)
    all_401 = dataclasses.replace(wrk.parse_wrk(OK_200), non_2xx_3xx=89194, statuses={401: 89194})
    assert wrk.unexpected(all_401, 401) == []


def test_wrk_command_pins_sends_headers_and_ends_with_the_url() -> None:
    argv = wrk.wrk_command(
        "http://127.0.0.1:1/fhir/Patient/1",
        connections=32,
        duration_s=10,
        headers={"Authorization": "x"},
        cpu=1,
    )
    assert argv[:4] == ["taskset", "-c", "1", "wrk"]
    assert {"-t1", "-c32", "-d10s", "--latency"} <= set(argv)
    assert argv[argv.index("-H") + 1] == "Authorization: x"
    assert argv[argv.index("-s") + 1] == str(wrk.STATUS_SCRIPT)
    assert argv[-1] == "http://127.0.0.1:1/fhir/Patient/1"
    assert wrk.wrk_command("http://h/", connections=1, duration_s=1)[0] == "wrk"


def test_ratios_compare_each_row_with_its_measured_baselines_only() -> None:
    rows = [
        measured("direct", 40000, 0.2),
        measured("gateway", 5000, 3.2, baselines=("direct", "nginx-proxy", "missing")),
        report.Row(scenario("nginx-proxy"), problems=("boom",)),
    ]
    (ratio,) = report.ratios(rows)
    assert (ratio.subject, ratio.baseline) == ("gateway", "direct")
    assert ratio.throughput_share == pytest.approx(0.125)
    assert ratio.slowdown == pytest.approx(8.0)
    assert ratio.p50_added_ms == pytest.approx(3.0)
    assert ratio.added_us_per_request == pytest.approx(200 - 25)
    assert report.ratio_lines([ratio]) == [
        "gateway vs direct: 12.5% of its req/s (8.0x slower), p50 +3.00 ms, "
        "est. core time per request +175 µs"
    ]


def test_table_has_one_line_per_row_and_keeps_cells_intact() -> None:
    rows = [
        measured("direct", 43210.4, 0.2),
        report.Row(scenario("gateway"), problems=("server did not start: a | b\nc" + "x" * 400,)),
        report.Row(scenario("granian-aiohttp"), skipped="granian could not be installed"),
    ]
    lines = report.table(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    assert "| 43,210 | 0.20 | 0.40 | 0.60 |  | 0 | 0 | ok |" in lines[2]
    assert "FAILED: server did not start: a / b c" in lines[3] and lines[3].endswith("... |")
    assert "skipped: granian could not be installed" in lines[4]
    assert [r.scenario.name for r in report.failed(rows)] == ["gateway"]


def test_document_is_json_ready_and_names_failures() -> None:
    rows = [measured("direct", 100, 1.0), report.Row(scenario("gateway", expect=401), problems=("no",))]
    doc = report.document(rows, {"duration_s": 10}, {"cores": 2})
    assert doc["failed"] == ["gateway"]
    assert doc["rows"][0]["wrk"]["requests_per_s"] == 100
    assert doc["rows"][1]["expect_status"] == 401 and doc["rows"][1]["verdict"] == "FAILED"
    assert "| direct |" in report.markdown(rows, {"duration_s": 10}, {"cores": 2})


def test_every_scenario_has_a_server_and_known_baselines() -> None:
    names = [s.name for s in scenarios.SCENARIOS]
    assert len(names) == len(set(names))
    for s in scenarios.SCENARIOS:
        assert s.server == "upstream" or s.server in run.LAUNCHERS, s.name
        assert set(s.baselines) <= set(names) - {s.name}, s.name


def test_select_keeps_run_order_and_refuses_unknown_names() -> None:
    chosen = scenarios.select(scenarios.SCENARIOS, ["gateway", "direct"])
    assert [s.name for s in chosen] == ["direct", "gateway"]
    with pytest.raises(ValueError, match="unknown row gatway"):
        scenarios.select(scenarios.SCENARIOS, ["gatway"])


def test_nginx_templates_render_completely() -> None:
    values = {"PORT": "1", "UPSTREAM_PORT": "2", "PREFIX": "/p", "FIXTURES": "/f", "CERT": "/c", "KEY": "/k"}
    for template in sorted(nginx.TEMPLATES.glob("*.conf.template")):
        text = nginx.render(template.read_text(encoding="utf-8"), values)
        assert "@" not in text, template.name
    with pytest.raises(ValueError, match="UPSTREAM_PORT"):
        nginx.render("server 127.0.0.1:@UPSTREAM_PORT@;", {})


@pytest.mark.parametrize("tls", [False, True])
def test_generated_gateway_config_passes_the_settings_schema(tmp_path: Path, tls: bool) -> None:
    path = gateway.gateway_config(tmp_path, "http://127.0.0.1:40123", 40124, 40125, tls)
    resolved = load_settings(path, environ={})
    settings = resolved.settings
    assert settings.upstreams["ehr"].targets[0].url == "http://127.0.0.1:40123/fhir"
    assert settings.listeners.public.port == 40124
    assert settings.oauth.access_token_seconds == gateway.ACCESS_TOKEN_SECONDS == 3600
    assert (settings.listeners.public.tls is not None) is tls
    assert resolved.master_key is not None and len(resolved.master_key.get_secret_value()) == 44
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["environment"] == "dev"


def test_rounds_combine_into_the_median_run_and_keep_every_problem() -> None:
    rounds = [measured("gateway", rps, 1.0) for rps in (5000, 3000, 5200)]
    row = report.combine(rounds)
    assert row.run is not None and row.run.requests_per_s == 5000
    assert row.round_rps == (5000, 3000, 5200)
    assert report.result_text(row) == "ok (rounds 3,000-5,200 req/s)"
    failed_round = report.Row(rounds[0].scenario, url="http://x", problems=("3 x 500",))
    combined = report.combine([rounds[0], failed_round])
    assert combined.verdict == "FAILED" and combined.problems == ("3 x 500",)
    assert combined.run is rounds[0].run
    assert report.combine([rounds[0]]).round_rps == ()


def test_a_row_faster_than_its_baseline_reads_as_faster() -> None:
    rows = [measured("gateway", 4000, 1.0), measured("gateway-tls", 5000, 1.0, baselines=("gateway",))]
    assert report.ratio_lines(report.ratios(rows)) == [
        "gateway-tls vs gateway: 125.0% of its req/s (1.25x faster), p50 +0.00 ms, "
        "est. core time per request -50 µs"
    ]


TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def test_a_bearer_row_sends_its_servers_token_and_names_only_the_header() -> None:
    row = scenarios.Scenario(
        "gateway-token", "gateway", "/fhir/Patient/1", "gateway", "test", 200, {"Accept": "x"}, (), True
    )
    assert row.request_headers(TOKEN) == {"Accept": "x", "Authorization": f"Bearer {TOKEN}"}
    assert row.header_names() == ("Accept", "Authorization")
    with pytest.raises(ValueError, match="gateway-token needs an access token"):
        row.request_headers(None)
    plain = scenario("gateway")
    assert plain.request_headers(TOKEN) == {} and plain.header_names() == ()


def test_the_token_never_reaches_the_table_or_the_json() -> None:
    (token_row,) = [s for s in scenarios.SCENARIOS if s.name == "gateway-token"]
    rows = [report.Row(token_row, url="http://x", run=measured("x", 4000, 1.0).run)]
    assert "GET /fhir/Patient/1 +Authorization" in report.table(rows)
    doc = report.document(rows, {}, {})
    assert doc["rows"][0]["headers"] == ["Authorization"]
    assert "Bearer" not in str(doc) and "Bearer" not in report.markdown(rows, {}, {})


def test_token_rows_share_the_plain_gateway_and_compare_with_the_unauthenticated_rows() -> None:
    rows = {s.name: s for s in scenarios.SCENARIOS}
    token, deny = rows["gateway-token"], rows["gateway-token-deny"]
    assert token.server == deny.server == rows["gateway"].server == "gateway"
    assert token.bearer and deny.bearer and not rows["gateway-deny"].bearer
    assert (token.path, token.expect_status) == ("/fhir/Patient/1", 200)
    assert (deny.path, deny.expect_status) == ("/fhir/Claim", 403)
    assert "gateway" in token.baselines and "gateway-deny" in deny.baselines
    # every row with a token runs on a gateway variant that issues one
    assert all(gateway.VARIANTS[s.server].issues_token for s in scenarios.SCENARIOS if s.bearer)


def test_the_token_cost_estimate_is_the_difference_of_time_per_request() -> None:
    rows = [
        measured("gateway", 5000, 6.0),
        measured("gateway-token", 4000, 7.5, baselines=("gateway",)),
    ]
    (ratio,) = report.ratios(rows)
    assert ratio.added_us_per_request == pytest.approx(250 - 200)
    line = report.ratio_lines([ratio])[0]
    assert line.endswith("(1.2x slower), p50 +1.50 ms, est. core time per request +50 µs")
    assert report.document(rows, {}, {})["ratios"][0]["added_us_per_request"] == pytest.approx(50)
    assert "an estimate" in report.markdown(rows, {}, {})
    assert report.per_request_us(0) == 0.0


def test_the_client_is_registered_and_its_token_fetched_through_the_cli(tmp_path: Path) -> None:
    config, credentials = tmp_path / "phigate.yaml", tmp_path / "bench-client.json"
    vendor, client = gateway.client_commands(config, credentials)
    for argv in (vendor, client):
        assert argv[0] == str(gateway.PHIGATE)
        assert argv[argv.index("-c") + 1] == str(config)
    assert vendor[1:3] == ["vendor", "add"] and vendor[vendor.index("--id") + 1] == "bench-lab"
    assert client[1:3] == ["client", "add"]
    assert client[client.index("--vendor") + 1] == "bench-lab"
    assert client[client.index("--scopes") + 1] == "system/Patient.r"
    assert client[client.index("--credentials-out") + 1] == str(credentials)
    assert "--generate-key" in client and client[client.index("--alg") + 1] == "ES384"
    token = gateway.token_command(credentials)
    assert token[1:] == ["token", "--credentials", str(credentials)] and "--cacert" not in token


@pytest.mark.parametrize("printed", ["", "phigate: the token endpoint refused", f"{TOKEN}\n{TOKEN}", "a.b"])
def test_only_one_compact_jwt_is_taken_as_the_token(printed: str) -> None:
    assert gateway.read_token(f"{TOKEN}\n") == TOKEN
    with pytest.raises(ValueError, match="one compact JWT"):
        gateway.read_token(printed)


def test_a_failing_cli_call_quotes_its_error_output_never_its_standard_output(tmp_path: Path) -> None:
    script = tmp_path / "cli.py"
    script.write_text("import sys\nprint('eyJ.secret.x')\nsys.exit('phigate: no vendor')\n")
    with pytest.raises(gateway.ServerError) as caught:
        gateway._cli([sys.executable, str(script), "token"])
    assert "exited 1: phigate: no vendor" in str(caught.value)
    assert "secret" not in str(caught.value)
    assert gateway._cli([sys.executable, "-c", "print('ok')"]) == "ok\n"
