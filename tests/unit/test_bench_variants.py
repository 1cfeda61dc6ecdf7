"""The benchmark's gateway variants (limits, Redis, audit), the server's CPU time, the ratios using them."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))  # bench/ is a directory of scripts, not a package

import gateway  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402
import scenarios  # noqa: E402
import servers  # noqa: E402
import wrk  # noqa: E402
from redis_namespace import RedisNamespace  # noqa: E402

from phigate.settings import ResolvedSettings, load_settings  # noqa: E402


def config_of(tmp_path: Path, name: str, **shared: str) -> ResolvedSettings:
    extra = dict(gateway.VARIANTS[name].settings)
    if shared:
        extra["shared_state"] = shared
    tls = gateway.VARIANTS[name].tls
    path = gateway.gateway_config(tmp_path, "http://127.0.0.1:40123", 40124, 40125, tls, extra)
    return load_settings(path, environ={})


@pytest.mark.parametrize("name", sorted(gateway.VARIANTS))
def test_every_variant_config_passes_the_schema_and_spools_in_its_own_directory(
    tmp_path: Path, name: str
) -> None:
    resolved = config_of(tmp_path, name)
    assert resolved.settings.audit.spool_dir == tmp_path / "audit-spool"
    assert resolved.settings.environment == "dev"
    assert (resolved.settings.listeners.public.tls is not None) is gateway.VARIANTS[name].tls


def test_the_limit_variants_count_every_request_and_refuse_none(tmp_path: Path) -> None:
    traffic = config_of(tmp_path, "gateway-limits").settings.traffic
    for limit in (traffic.per_ip, traffic.global_):
        assert limit is not None and (limit.rate_limit.count, limit.rate_limit.period) == (100_000_000, 1.0)
    assert traffic.default_client.rate_limit is not None
    assert traffic.default_client.rate_limit.count == 100_000_000
    assert scenarios.LIMIT.replace(",", "") == gateway.UNREACHED
    plain = config_of(tmp_path / "plain", "gateway").settings.traffic
    assert plain.per_ip is None and plain.global_ is None and plain.default_client.rate_limit is None


def test_the_redis_variant_differs_from_the_in_process_one_only_by_its_shared_state(tmp_path: Path) -> None:
    memory, on_redis = gateway.VARIANTS["gateway-limits"], gateway.VARIANTS["gateway-limits-redis"]
    assert memory.settings == on_redis.settings and on_redis.redis and not memory.redis
    namespace = RedisNamespace.fresh("redis://127.0.0.1:6379/0")
    resolved = config_of(tmp_path, "gateway-limits-redis", url=namespace.url, namespace=namespace.name)
    assert resolved.settings.shared_state.namespace == namespace.name
    assert resolved.shared_state_url.get_secret_value() == "redis://127.0.0.1:6379/0"
    assert config_of(tmp_path / "m", "gateway-limits").shared_state_url.get_secret_value() == "memory://"


def test_the_audit_variants_turn_auditing_off_or_fsync_every_event(tmp_path: Path) -> None:
    assert config_of(tmp_path / "a", "gateway").settings.audit.fsync == "interval"
    assert config_of(tmp_path / "a", "gateway").settings.audit.enabled
    assert not config_of(tmp_path / "b", "gateway-audit-off").settings.audit.enabled
    always = config_of(tmp_path / "c", "gateway-fsync-always").settings.audit
    assert always.enabled and always.fsync == "always"


def test_merging_a_section_keeps_the_base_keys_and_replaces_plain_values() -> None:
    base = {"audit": {"spool_dir": "/s"}, "logging": {"level": "warning"}, "environment": "dev"}
    out = gateway.merged(base, {"audit": {"fsync": "always"}, "environment": "test", "traffic": {"x": 1}})
    assert out == {
        "audit": {"spool_dir": "/s", "fsync": "always"},
        "logging": {"level": "warning"},
        "environment": "test",
        "traffic": {"x": 1},
    }
    assert base["audit"] == {"spool_dir": "/s"}  # the base is not changed


def test_every_variant_has_rows_and_every_variant_row_is_compared_with_its_plain_twin() -> None:
    rows = {s.name: s for s in scenarios.SCENARIOS}
    assert {s.server for s in scenarios.SCENARIOS if s.server.startswith("gateway")} == set(gateway.VARIANTS)
    assert set(gateway.VARIANTS) <= set(run.LAUNCHERS)
    twins = {
        "gateway-limits": "gateway",
        "gateway-token-limits": "gateway-token",
        "gateway-limits-redis": "gateway",
        "gateway-token-limits-redis": "gateway-token",
        "gateway-token-fsync-always": "gateway-token-audit-off",
    }
    for name, twin in twins.items():
        row, plain = rows[name], rows[twin]
        assert twin in row.baselines, name
        assert (row.path, row.bearer, row.expect_status) == (plain.path, plain.bearer, plain.expect_status)
    # auditing with the default durability against auditing off: the default row is the subject
    assert "gateway-token-audit-off" in rows["gateway-token"].baselines


def test_a_redis_namespace_is_fresh_each_time_and_fits_the_settings_pattern() -> None:
    names = {RedisNamespace.fresh("redis://x").name for _ in range(20)}
    assert len(names) == 20
    assert all(n.startswith("phigate-bench-") and len(n) <= 64 for n in names)
    assert RedisNamespace("redis://x", "phigate-bench-ab").pattern == "phigate-bench-ab:*"


def test_an_unreachable_redis_skips_the_rows_and_leaves_nothing_to_remove(
    capsys: pytest.CaptureFixture[str],
) -> None:
    namespace = RedisNamespace.fresh("redis://127.0.0.1:1/0")  # nothing listens on port 1
    with pytest.raises(servers.Unavailable, match=r"no Redis at redis://127\.0\.0\.1:1/0"):
        namespace.require()
    assert namespace.remove() == 0
    assert "could not remove the keys phigate-bench-" in capsys.readouterr().err


@pytest.mark.redis
def test_removing_a_namespace_deletes_its_keys_and_no_other() -> None:
    ours, theirs = RedisNamespace.fresh(servers.REDIS_URL), RedisNamespace.fresh(servers.REDIS_URL)
    ours.require()
    with redis.Redis.from_url(servers.REDIS_URL) as client:
        try:
            for i in range(3):
                client.set(f"{ours.name}:rl:{{ip}}:{i}", "1")
            client.set(f"{theirs.name}:rl:x", "1")
            assert ours.remove() == 3
            assert list(client.scan_iter(match=ours.pattern)) == []
            assert client.get(f"{theirs.name}:rl:x") == b"1"
            assert ours.remove() == 0
        finally:
            client.delete(f"{theirs.name}:rl:x", *[f"{ours.name}:rl:{{ip}}:{i}" for i in range(3)])


def started(argv: list[str], tmp_path: Path) -> servers.Server:
    process = subprocess.Popen(argv, start_new_session=True)
    return servers.Server("test", "http://127.0.0.1:1", process, tmp_path / "log")


def test_after_stop_runs_once_after_the_process_ended(tmp_path: Path) -> None:
    server = started([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path)
    seen: list[int | None] = []
    server.after_stop.append(lambda: seen.append(server.process.poll()))
    server.stop(grace_s=5)
    assert seen == [-signal.SIGTERM]
    server.stop()
    assert len(seen) == 1
    exited = started([sys.executable, "-c", "pass"], tmp_path)
    exited.process.wait(timeout=10)
    exited.after_stop.append(lambda: seen.append(0))
    exited.stop()  # a server that had already exited still runs its clean-up
    assert seen == [-signal.SIGTERM, 0]


STAT = "4242 (phigate (serve) x) S 1 4242 {session} 0 -1 4194560 2973 0 0 0 {utime} {stime} 0 0 20 0 1 0"


def test_cpu_ticks_are_read_after_the_command_name_and_only_for_the_session() -> None:
    assert servers.stat_ticks(STAT.format(session=4242, utime=150, stime=25), 4242) == 175
    assert servers.stat_ticks(STAT.format(session=99, utime=150, stime=25), 4242) == 0
    assert servers.stat_ticks("4242 (x) S 1", 4242) == 0


def test_a_sessions_cpu_time_sums_its_processes(tmp_path: Path) -> None:
    for pid, session, utime in ((10, 7, 100), (11, 7, 50), (12, 8, 900)):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(STAT.format(session=session, utime=utime, stime=10))
    (tmp_path / "13").mkdir()  # a process that ended between the listing and the read
    (tmp_path / "self").mkdir()
    ticks = os.sysconf("SC_CLK_TCK")
    assert servers.session_cpu_seconds(7, tmp_path) == pytest.approx(170 / ticks)
    assert servers.session_cpu_seconds(9, tmp_path) == 0.0
    assert servers.session_cpu_seconds(7, tmp_path / "missing") is None
    assert (servers.session_cpu_seconds(os.getsid(0)) or 0.0) > 0.0  # this very test's session


def row(
    name: str,
    rps: float,
    cpu_s: float | None,
    baselines: tuple[str, ...] = (),
    rounds: tuple[float, ...] = (),
) -> report.Row:
    run_ = wrk.WrkRun(int(rps * 10), 10.0, rps, 0, 1.0, 4.0, {"50": 1.0, "75": 1.0, "90": 2.0, "99": 3.0})
    s = scenarios.Scenario(name, name, "/fhir/metadata", "gateway", "test", 200, {}, baselines)
    return report.Row(s, url="http://x", run=run_, server_cpu_s=cpu_s, round_rps=rounds)


def test_measured_server_cpu_per_request_is_in_the_table_the_ratio_and_the_json() -> None:
    rows = [row("gateway", 5000, 9.0), row("gateway-limits", 4000, 8.8, baselines=("gateway",))]
    assert rows[0].cpu_us_per_request == pytest.approx(180.0)  # 9 s over 50,000 requests
    assert rows[1].cpu_us_per_request == pytest.approx(220.0)
    (ratio,) = report.ratios(rows)
    assert ratio.cpu_added_us == pytest.approx(40.0)
    assert report.ratio_lines([ratio])[0].endswith(
        "est. core time per request +50 µs, server CPU per request +40 µs"
    )
    assert "| 5,000 | 1.00 | 2.00 | 3.00 | 180 | 0 | 0 | ok |" in report.table(rows)
    doc = report.document(rows, {}, {})
    assert doc["rows"][1]["server_cpu_us_per_request"] == pytest.approx(220.0)
    assert doc["ratios"][0]["cpu_added_us"] == pytest.approx(40.0)
    unread = [row("gateway", 5000, None), row("gateway-limits", 4000, 8.8, baselines=("gateway",))]
    (ratio,) = report.ratios(unread)
    assert ratio.cpu_added_us is None and "server CPU" not in report.ratio_lines([ratio])[0]


def test_ratios_pair_the_rounds_and_combine_keeps_the_median_rounds_cpu() -> None:
    assert report.paired_shares((4000, 3000, 4500), (5000, 5000, 5000)) == pytest.approx((0.8, 0.6, 0.9))
    assert report.paired_shares((4000,), (5000,)) == ()
    assert report.paired_shares((4000, 3000), (5000, 5000, 5000)) == ()
    rows = [
        row("gateway", 5000, 9.0, rounds=(5000, 4000)),
        row("gateway-limits", 4000, 8.8, baselines=("gateway",), rounds=(4000, 3800)),
    ]
    line = report.ratio_lines(report.ratios(rows))[0]
    assert line.endswith("(by round: 80.0%, 95.0%)")
    rounds = [row("gateway", rps, cpu) for rps, cpu in ((5000, 9.0), (3000, 1.2), (5200, 7.8))]
    combined = report.combine(rounds)
    assert combined.run is not None and combined.run.requests_per_s == 5000
    assert combined.round_cpu_us == pytest.approx((180.0, 40.0, 150.0))
    assert combined.cpu_us_per_request == pytest.approx(150.0)  # the median of the rounds' own figures
    assert report.paired_differences((180.0, 40.0), (100.0, 50.0)) == pytest.approx((80.0, -10.0))
    assert report.paired_differences((180.0,), (100.0,)) == ()
    paired = [
        combined,
        report.combine([row("gateway", rps, cpu) for rps, cpu in ((4000, 8.0), (2000, 1.0), (5200, 7.8))]),
    ]
    paired[1] = dataclasses.replace(paired[1], scenario=rows[1].scenario)
    (ratio,) = report.ratios(paired)
    assert ratio.round_cpu_added_us == pytest.approx((20.0, 10.0, 0.0))
    assert report.ratio_lines([ratio])[0].endswith(
        "(by round: 80.0%, 66.7%, 100.0%; server CPU +20, +10, +0 µs)"
    )
    assert report.document(paired, {}, {})["rows"][0]["round_server_cpu_us_per_request"] == [180, 40, 150]
