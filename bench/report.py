"""Turning measured rows into ratios, a JSON document and a Markdown table (pure: no I/O)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import micro
from micro import MicroResult
from scenarios import Scenario
from wrk import WrkRun

RESULT_WIDTH = 160  # the table's result cell; the JSON keeps every problem in full
ESTIMATE_LABEL = "est. core time per request"  # the 1/req/s difference: an estimate, and says so
ESTIMATE_NOTE = (
    "est. core time per request: an estimate of what one request of the row costs beyond one of "
    "the compared row, 1/req/s minus 1/req/s. Both rows run saturated at the same number of "
    "connections, so 1/req/s is the server core's time per request (the upstream's share "
    "included when it shares the core; it cancels out between two proxied rows). A server that "
    "waits (on a disk, on Redis) with its core idle makes it larger than the core time. "
    "server CPU: measured, the CPU time the server's own processes used while wrk measured, per "
    "request (user + system, from /proc; the upstream's and Redis's work are not in it); with "
    "several rounds, the median of the rounds' figures."
)
MICRO_NOTE = (
    "micro: each case's two callables timed in-process, side by side, in alternating batches "
    "(time.perf_counter_ns, garbage collection on); the figures are the medians of the batches' "
    "time per call, and added µs is their difference: a direct measure of one request's work on "
    "one core, without the server, the network or the upstream."
)


@dataclass(frozen=True)
class Row:
    """One scenario's outcome: a run (checked against the scenario), or the reason it did not run."""

    scenario: Scenario
    url: str | None = None
    run: WrkRun | None = None
    problems: tuple[str, ...] = ()
    skipped: str | None = None
    round_rps: tuple[float, ...] = ()  # req/s of every round when measured more than once
    # CPU seconds the server's own processes used while wrk measured (None: not read). The
    # upstream and Redis run in other processes: their work is not in it.
    server_cpu_s: float | None = None
    round_cpu_us: tuple[float, ...] = ()  # CPU µs per request of every round, when measured more than once

    @property
    def cpu_us_per_request(self) -> float | None:
        """The server's measured CPU time per completed request, in microseconds: the median of the
        rounds when there were several (a figure of its own, less moved by the machine's load than
        req/s), else the one run's."""
        if self.round_cpu_us:
            return statistics.median(self.round_cpu_us)
        if self.server_cpu_s is None or self.run is None or self.run.requests <= 0:
            return None
        return self.server_cpu_s * 1e6 / self.run.requests

    @property
    def verdict(self) -> str:
        if self.problems:
            return "FAILED"
        if self.skipped is not None or self.run is None:
            return "skipped"
        return "ok"


@dataclass(frozen=True)
class Ratio:
    """``subject`` against ``baseline``: share of the baseline's throughput, and the p50 latency added."""

    subject: str
    baseline: str
    throughput_share: float  # subject req/s / baseline req/s
    p50_added_ms: float
    # An estimate: the server-core time one request of the subject costs beyond one of the
    # baseline, 1/req/s minus 1/req/s. Both rows run saturated at the same concurrency, so
    # 1/req/s is the core time per request (the upstream's share included, when it shares it).
    added_us_per_request: float = 0.0
    # Measured: the subject server's CPU time per request minus the baseline server's (None when
    # either was not read).
    cpu_added_us: float | None = None
    # The throughput share in each round, subject and baseline of the same round paired (empty
    # unless both rows were measured in the same rounds, more than one).
    round_shares: tuple[float, ...] = ()
    round_cpu_added_us: tuple[float, ...] = ()  # the server CPU difference in each round, paired alike

    @property
    def slowdown(self) -> float:
        """How many times fewer requests per second than the baseline."""
        return 1.0 / self.throughput_share if self.throughput_share else float("inf")


def combine(rounds: Sequence[Row]) -> Row:
    """One scenario measured in several rounds as one row: the median-throughput run, every problem.

    The median, not the mean, so that one round disturbed by other work on the machine does not
    move the figure; with an even count it is the lower of the middle two.
    """
    first = rounds[0]
    problems = tuple(dict.fromkeys(p for r in rounds for p in r.problems))
    measured = sorted((r for r in rounds if r.run is not None), key=lambda r: _rps(r))
    if not measured:
        return Row(first.scenario, url=first.url, problems=problems, skipped=first.skipped)
    median = measured[(len(measured) - 1) // 2]
    every = tuple(_rps(r) for r in rounds if r.run is not None)
    cpu = tuple(c for r in rounds if (c := r.cpu_us_per_request) is not None)
    return Row(
        first.scenario,
        url=median.url,
        run=median.run,
        problems=problems,
        round_rps=every if len(rounds) > 1 else (),
        server_cpu_s=median.server_cpu_s,
        round_cpu_us=cpu if len(rounds) > 1 and len(cpu) == len(every) else (),
    )


def _rps(row: Row) -> float:
    return row.run.requests_per_s if row.run is not None else 0.0


def ratios(rows: Sequence[Row]) -> list[Ratio]:
    """Each measured row against each of its measured baselines, in row order."""
    measured = {r.scenario.name: r for r in rows if r.verdict == "ok" and r.run is not None}
    found = []
    for row in rows:
        for name in row.scenario.baselines:
            if row.scenario.name in measured and name in measured:
                found.extend(_ratio(measured[row.scenario.name], measured[name]))
    return found


def _ratio(subject_row: Row, baseline_row: Row) -> list[Ratio]:
    """``subject_row`` against ``baseline_row`` (both measured), or nothing when the baseline did nothing."""
    subject, baseline = subject_row.run, baseline_row.run
    assert subject is not None and baseline is not None
    if baseline.requests_per_s <= 0:
        return []
    cpu, base_cpu = subject_row.cpu_us_per_request, baseline_row.cpu_us_per_request
    return [
        Ratio(
            subject=subject_row.scenario.name,
            baseline=baseline_row.scenario.name,
            throughput_share=subject.requests_per_s / baseline.requests_per_s,
            p50_added_ms=subject.percentiles_ms["50"] - baseline.percentiles_ms["50"],
            added_us_per_request=per_request_us(subject.requests_per_s)
            - per_request_us(baseline.requests_per_s),
            cpu_added_us=cpu - base_cpu if cpu is not None and base_cpu is not None else None,
            round_shares=paired_shares(subject_row.round_rps, baseline_row.round_rps),
            round_cpu_added_us=paired_differences(subject_row.round_cpu_us, baseline_row.round_cpu_us),
        )
    ]


def paired_shares(subject: Sequence[float], baseline: Sequence[float]) -> tuple[float, ...]:
    """Round by round, the subject's req/s over the baseline's; empty unless both have the same rounds.

    Rows of one round run minutes apart at most, so pairing by round keeps a slow stretch of the
    machine from counting against one row only.
    """
    if len(subject) < 2 or len(subject) != len(baseline) or min(baseline) <= 0:
        return ()
    return tuple(s / b for s, b in zip(subject, baseline, strict=True))


def paired_differences(subject: Sequence[float], baseline: Sequence[float]) -> tuple[float, ...]:
    """Round by round, the subject's figure minus the baseline's; empty unless both have the same rounds."""
    if len(subject) < 2 or len(subject) != len(baseline):
        return ()
    return tuple(s - b for s, b in zip(subject, baseline, strict=True))


def per_request_us(requests_per_s: float) -> float:
    """Microseconds per request at a saturated server's throughput (0 when nothing completed)."""
    return 1e6 / requests_per_s if requests_per_s > 0 else 0.0


def failed(rows: Sequence[Row]) -> list[Row]:
    return [r for r in rows if r.verdict == "FAILED"]


def table(rows: Sequence[Row]) -> str:
    """A Markdown table, one line per row, readable as plain text too."""
    heads = [
        "row",
        "request",
        "expect",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "server CPU µs/req",
        "socket errors",
        "non-2xx/3xx",
    ]
    lines = ["| " + " | ".join([*heads, "result"]) + " |", "|---|---|" + "---:|" * 8 + "---|"]
    for row in rows:
        s, run = row.scenario, row.run
        request = f"GET {s.path}" + "".join(f" +{h}" for h in s.header_names())
        if run is None:
            cells = ["", "", "", "", "", "", ""]
        else:
            p, cpu = run.percentiles_ms, row.cpu_us_per_request
            cells = [
                f"{run.requests_per_s:,.0f}",
                f"{p['50']:.2f}",
                f"{p['90']:.2f}",
                f"{p['99']:.2f}",
                "" if cpu is None else f"{cpu:,.0f}",
                str(run.socket_errors.total),
                str(run.non_2xx_3xx),
            ]
        result = _cell(result_text(row), RESULT_WIDTH)
        lines.append("| " + " | ".join([s.name, request, str(s.expect_status), *cells, result]) + " |")
    return "\n".join(lines)


def ratio_lines(found: Sequence[Ratio]) -> list[str]:
    return [
        f"{r.subject} vs {r.baseline}: {r.throughput_share:.1%} of its req/s "
        f"({_times(r)}), p50 {r.p50_added_ms:+.2f} ms, {ESTIMATE_LABEL} {r.added_us_per_request:+,.0f} µs"
        + ("" if r.cpu_added_us is None else f", server CPU per request {r.cpu_added_us:+,.0f} µs")
        + _by_round(r)
        for r in found
    ]


def _by_round(r: Ratio) -> str:
    if not r.round_shares:
        return ""
    shares = ", ".join(f"{x:.1%}" for x in r.round_shares)
    if not r.round_cpu_added_us:
        return f" (by round: {shares})"
    return f" (by round: {shares}; server CPU {', '.join(f'{x:+,.0f}' for x in r.round_cpu_added_us)} µs)"


def _times(r: Ratio) -> str:
    if r.throughput_share >= 1:
        return f"{r.throughput_share:.2f}x faster"
    return f"{r.slowdown:.1f}x slower"


def document(
    rows: Sequence[Row],
    settings: Mapping[str, Any],
    machine: Mapping[str, Any],
    micro_results: Sequence[MicroResult] = (),
) -> dict[str, Any]:
    """The JSON result of one run: the wrk rows and their ratios, then the micro cases."""
    return {
        "settings": dict(settings),
        "machine": dict(machine),
        "rows": [_row_json(r) for r in rows],
        "ratios": [{**asdict(r), "slowdown": round(r.slowdown, 3)} for r in ratios(rows)],
        "ratio_note": ESTIMATE_NOTE,
        "micro": micro.document(micro_results),
        "micro_note": MICRO_NOTE,
        "failed": [r.scenario.name for r in failed(rows)]
        + [r.case.name for r in micro.failed(micro_results)],
    }


def markdown(
    rows: Sequence[Row],
    settings: Mapping[str, Any],
    machine: Mapping[str, Any],
    micro_results: Sequence[MicroResult] = (),
) -> str:
    """latest.md: when and how it was measured, the tables, the ratios and what each row is."""
    setup = ", ".join(f"{k} {v}" for k, v in settings.items())
    host = ", ".join(f"{k}: {v}" for k, v in machine.items())
    parts = [
        "# phigate benchmark",
        "",
        f"Settings: {setup}.",
        "",
        f"Machine: {host}.",
        "",
        table(rows),
        "",
        "## Ratios",
        "",
        *[f"- {line}" for line in ratio_lines(ratios(rows))],
        "",
        ESTIMATE_NOTE,
        "",
        "## Rows",
        "",
        *[f"- **{r.scenario.name}**: {r.scenario.about}" for r in rows],
        *_micro_section(micro_results),
    ]
    return "\n".join(parts) + "\n"


def _micro_section(results: Sequence[MicroResult]) -> list[str]:
    if not results:
        return []
    return [
        "",
        "## In-process (micro)",
        "",
        micro.table(results),
        "",
        *[f"- {line}" for line in micro.lines(results)],
        "",
        MICRO_NOTE,
        "",
        *[f"- **{r.case.name}**: {r.case.about}" for r in results],
    ]


def _cell(text: str, width: int) -> str:
    """Text fit for one Markdown table cell: no pipe, no newline, at most ``width`` characters."""
    flat = " ".join(text.replace("|", "/").split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def result_text(row: Row) -> str:
    if row.problems:
        return "FAILED: " + "; ".join(row.problems)
    if row.verdict == "skipped":
        return f"skipped: {row.skipped}"
    if len(row.round_rps) > 1:
        return f"ok (rounds {min(row.round_rps):,.0f}-{max(row.round_rps):,.0f} req/s)"
    return "ok"


def _row_json(row: Row) -> dict[str, Any]:
    s = row.scenario
    run = None
    if row.run is not None:
        run = asdict(row.run)
        run["statuses"] = {str(k): v for k, v in row.run.statuses.items()}
    return {
        "name": s.name,
        "server": s.server,
        "role": s.role,
        "about": s.about,
        "method": "GET",
        "path": s.path,
        "headers": sorted(s.header_names()),  # names only: the Authorization value is a token
        "expect_status": s.expect_status,
        "url": row.url,
        "verdict": row.verdict,
        "problems": list(row.problems),
        "skipped": row.skipped,
        "round_requests_per_s": list(row.round_rps),
        "server_cpu_s": row.server_cpu_s,
        "server_cpu_us_per_request": _rounded(row.cpu_us_per_request),
        "round_server_cpu_us_per_request": [round(c, 1) for c in row.round_cpu_us],
        "wrk": run,
    }
