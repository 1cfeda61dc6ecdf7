"""make bench: the gateway's throughput and latency side by side with the upstream, nginx and bare stacks.

First times the micro cases of ``micro_cases.CASES`` in-process: a piece of the gateway's work,
such as input validation, against what the gateway does without it, with no server. Then starts
an nginx upstream serving a static ~2 KB FHIR JSON, then for each row of ``scenarios.SCENARIOS``
the server it needs (pinned to one core), warms it up with wrk, measures with wrk (pinned to
another core), and checks every response had the expected status. Writes
``results/<UTC time>.json`` (and, for a run of every row, ``latest.json`` and ``latest.md``),
prints the tables and the ratios, and exits 1 when a row or a micro case failed. Run
``python bench/run.py -h``.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import gateway
import micro
import nginx
import report
import stacks
from micro import MicroCase, MicroResult
from micro_cases import CASES
from report import Row
from scenarios import SCENARIOS, Scenario, select
from servers import (
    BENCH_DIR,
    REDIS_URL,
    Launcher,
    Server,
    ServerError,
    Unavailable,
    Workspace,
    probe,
    require_tools,
)
from wrk import WrkOutputError, parse_wrk, unexpected, wrk_command

LAUNCHERS: dict[str, Launcher] = {
    "nginx-proxy": nginx.start_proxy,
    "nginx-proxy-tls": nginx.start_tls_proxy,
    **{name: gateway.launcher(name) for name in gateway.VARIANTS},
    "uvicorn-aiohttp": stacks.uvicorn_aiohttp,
    "uvicorn-httpx": stacks.uvicorn_httpx,
    "granian-aiohttp": stacks.granian_aiohttp,
}
RESULTS = BENCH_DIR / "results"


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:27} {s.about}")
        for c in CASES:
            print(f"{c.name:27} micro: {c.about}")
        return 0
    try:
        scenarios, cases = choose(SCENARIOS, CASES, args.only, micro_only=args.micro_only)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    missing = require_tools(["nginx", "wrk", "taskset"]) if scenarios else []
    if missing:
        print(
            f"make bench needs {' and '.join(missing)}: apt-get install -y {' '.join(missing)} "
            "(or run only the in-process cases: --micro-only)",
            file=sys.stderr,
        )
        return 2
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    server_cpu, load_cpu = _cores()
    machine = _machine()
    settings = {
        "started_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "wrk_threads": args.threads,
        "rounds": args.rounds,
        "server_cpu": server_cpu,
        "load_cpu": load_cpu,
        "micro_seconds": args.micro_seconds,
        "micro_warmup_s": args.micro_warmup,
        "micro_batches": micro.BATCHES,
    }
    try:
        # First, while no server runs: the in-process figures must not share the core with one.
        timed = _measure_micro(cases, args)
        rows = _measure_all(scenarios, args, server_cpu, load_cpu) if scenarios else []
    except KeyboardInterrupt:
        print("\ninterrupted: every server was stopped, no result written", file=sys.stderr)
        return 130
    except ServerError as exc:  # only the upstream's failure ends the run; other servers fail their rows
        print(f"the upstream did not start: {exc}", file=sys.stderr)
        return 1
    return _publish(rows, timed, settings, machine, complete=not args.only and not args.micro_only)


def choose(
    scenarios: Sequence[Scenario], cases: Sequence[MicroCase], only: Sequence[str], *, micro_only: bool
) -> tuple[tuple[Scenario, ...], tuple[MicroCase, ...]]:
    """The wrk rows and micro cases to run: those named in ``only`` (every one when it is empty).

    An unknown name, or a wrk row named together with ``micro_only``, raises ValueError.
    """
    row_names = {s.name for s in scenarios}
    case_names = {c.name for c in cases}
    unknown = [name for name in only if name not in row_names | case_names]
    if unknown:
        raise ValueError(
            f"unknown row {', '.join(unknown)}; rows are: {', '.join(s.name for s in scenarios)}; "
            f"micro cases are: {', '.join(c.name for c in cases)}"
        )
    named_rows = [name for name in only if name in row_names]
    if micro_only and named_rows:
        raise ValueError(f"--micro-only runs no wrk row, but --only names {', '.join(named_rows)}")
    if not only:
        return (() if micro_only else tuple(scenarios)), tuple(cases)
    named_cases = [name for name in only if name in case_names]
    chosen_rows = select(tuple(scenarios), named_rows) if named_rows else ()
    return chosen_rows, (micro.select(cases, named_cases) if named_cases else ())


def _measure_micro(cases: Sequence[MicroCase], args: argparse.Namespace) -> list[MicroResult]:
    """Each case timed in this process, one after the other.

    Not pinned to a core: on a busy machine the scheduler can then move the benchmark off a core
    that another process is using, which pinning would forbid.
    """
    if not cases:
        return []
    print(f"micro: {len(cases)} in-process cases, about {args.micro_warmup + args.micro_seconds:.1f} s each")
    timed = []
    for case in cases:
        timed.append(micro.time_case(case, args.micro_seconds, args.micro_warmup))
        print(_micro_progress(timed[-1]), flush=True)
    return timed


def _measure_all(
    scenarios: Sequence[Scenario], args: argparse.Namespace, server_cpu: int | None, load_cpu: int | None
) -> list[Row]:
    rounds: list[list[Row]] = []
    with tempfile.TemporaryDirectory(prefix="phigate-bench-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        root.chmod(0o755)  # nginx workers run as nobody when the benchmark runs as root
        ws = Workspace(root=root, server_cpu=server_cpu, install=not args.no_install, redis_url=args.redis)
        upstream = nginx.start_upstream(ws)
        stack.callback(upstream.stop)
        broken: dict[str, Row] = {}
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"round {number} of {args.rounds}", flush=True)
            rounds.append(_measure_round(scenarios, args, ws, upstream, stack, broken, load_cpu))
    return [report.combine(list(same)) for same in zip(*rounds, strict=True)]


def _measure_round(
    scenarios: Sequence[Scenario],
    args: argparse.Namespace,
    ws: Workspace,
    upstream: Server,
    stack: ExitStack,
    broken: dict[str, Row],
    load_cpu: int | None,
) -> list[Row]:
    """Each scenario once; a server runs from its first row to its last, a broken one is not retried."""
    rows = []
    running: dict[str, Server] = {"upstream": upstream}
    for i, scenario in enumerate(scenarios):
        server = running.get(scenario.server)
        if server is None and scenario.server not in broken:
            server = _start(scenario, ws, upstream, broken)
            if server is not None:
                running[scenario.server] = server
                stack.callback(server.stop)
        if server is None:
            rows.append(_as_row_of(broken[scenario.server], scenario))
        else:
            rows.append(_measure(scenario, server, args, load_cpu))
        print(_progress(rows[-1]), flush=True)
        if server is not None and server is not upstream and _unused(scenario.server, scenarios[i + 1 :]):
            running.pop(scenario.server).stop()
    return rows


def _start(scenario: Scenario, ws: Workspace, upstream: Server, broken: dict[str, Row]) -> Server | None:
    print(f"starting {scenario.server} ...", flush=True)
    try:
        return LAUNCHERS[scenario.server](ws, upstream)
    except Unavailable as exc:
        broken[scenario.server] = Row(scenario, skipped=str(exc))
    except ServerError as exc:
        broken[scenario.server] = Row(scenario, problems=(f"server did not start: {exc}",))
    return None


def _measure(scenario: Scenario, server: Server, args: argparse.Namespace, load_cpu: int | None) -> Row:
    url = server.origin + scenario.path
    if scenario.bearer and server.token is None:
        return Row(scenario, url=url, problems=(server.token_problem,))
    headers = scenario.request_headers(server.token)
    status = probe(url, headers)
    if status != scenario.expect_status:
        problem = f"a single GET answered {status or 'nothing'}, expected {scenario.expect_status}"
        return Row(scenario, url=url, problems=(problem,))
    try:
        if args.warmup > 0:
            _wrk(url, headers, args, args.warmup, load_cpu)
        cpu_before = server.cpu_seconds()
        output = _wrk(url, headers, args, args.duration, load_cpu)
        cpu_after = server.cpu_seconds()
        run = parse_wrk(output)
    except (WrkOutputError, subprocess.SubprocessError) as exc:
        return Row(scenario, url=url, problems=(f"wrk: {exc}",))
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    problems = tuple(unexpected(run, scenario.expect_status))
    return Row(scenario, url=url, run=run, problems=problems, server_cpu_s=cpu)


def _wrk(
    url: str, headers: Mapping[str, str], args: argparse.Namespace, duration: float, cpu: int | None
) -> str:
    command = wrk_command(
        url,
        connections=args.connections,
        duration_s=duration,
        threads=args.threads,
        headers=headers,
        cpu=cpu,
    )
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=False)
    except subprocess.TimeoutExpired:
        # its message would quote the command line, and with it a row's bearer token
        raise subprocess.SubprocessError(f"did not finish within {duration + 60:.0f} s") from None
    if done.returncode != 0:
        raise subprocess.SubprocessError(
            f"exit {done.returncode}: {(done.stderr or done.stdout).strip()[:300]}"
        )
    return done.stdout


def _publish(
    rows: list[Row],
    timed: list[MicroResult],
    settings: dict[str, Any],
    machine: dict[str, Any],
    complete: bool,
) -> int:
    result = report.document(rows, settings, machine, timed)
    RESULTS.mkdir(exist_ok=True)
    stamp = str(settings["started_at"]).replace("-", "").replace(":", "")
    written = [_write(RESULTS / f"{stamp}.json", json.dumps(result, indent=2) + "\n")]
    if complete:
        written.append(_write(RESULTS / "latest.json", json.dumps(result, indent=2) + "\n"))
        written.append(_write(RESULTS / "latest.md", report.markdown(rows, settings, machine, timed)))
    if rows:
        print()
        print(report.table(rows))
        print()
        for line in report.ratio_lines(report.ratios(rows)):
            print(line)
        print(f"({report.ESTIMATE_NOTE})")
    if timed:
        print()
        print(micro.table(timed))
        print()
        for line in micro.lines(timed):
            print(line)
        print(f"({report.MICRO_NOTE})")
    print()
    print("written: " + ", ".join(os.path.relpath(p, BENCH_DIR.parent) for p in written))
    if not complete:
        print("(latest.json and latest.md are only replaced by a run of every row and micro case)")
    bad = [r.scenario.name for r in report.failed(rows)] + [r.case.name for r in micro.failed(timed)]
    if bad:
        print(f"FAILED: {', '.join(bad)} (see the result column)", file=sys.stderr)
        return 1
    return 0


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def _as_row_of(template: Row, scenario: Scenario) -> Row:
    return Row(scenario, problems=template.problems, skipped=template.skipped)


def _unused(server: str, later: Sequence[Scenario]) -> bool:
    return all(s.server != server for s in later)


def _micro_progress(result: MicroResult) -> str:
    if result.measured is not None and result.baseline is not None:
        figures = f"{micro.us(result.measured.median_us):>8} µs vs {micro.us(result.baseline.median_us)} µs"
        return f"  {result.case.name:23} {figures}  {micro.result_text(result)}"
    return f"  {result.case.name:23} {micro.result_text(result)}"


def _progress(row: Row) -> str:
    if row.run is not None:
        return f"  {row.scenario.name:27} {row.run.requests_per_s:>10,.0f} req/s  {report.result_text(row)}"
    return f"  {row.scenario.name:27} {'':>16}  {report.result_text(row)}"


def _cores() -> tuple[int | None, int | None]:
    """Servers on the first allowed core, wrk on the second; no pinning on a one-core machine."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        print("only one core: servers and wrk share it, figures are not comparable with other machines")
        return None, None
    return cpus[0], cpus[1]


def _machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "nginx": _version(["nginx", "-v"]).removeprefix("nginx version: "),
        "wrk": _version(["wrk", "-v"]).split(" Copyright")[0],
        "granian": _version([str(stacks.GRANIAN_VENV / "bin" / "granian"), "--version"]),
        **{name: importlib.metadata.version(name) for name in ("aiohttp", "httpx", "uvicorn", "uvloop")},
        "phigate": _version(["git", "-C", str(BENCH_DIR.parent), "describe", "--always", "--dirty"]),
        "load_average": _load_average(),
    }


def _load_average() -> str:
    """Other work on the machine skews every row; the 1/5/15-minute load average tells how much there was."""
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])
    except OSError:
        return "unknown"


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per row (default 10)")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of unmeasured load first (default 3)"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every row this many times, report the median (default 1)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this row or micro case (repeatable)",
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="skip granian rather than pip-install it into bench/.venv-granian",
    )
    parser.add_argument(
        "--redis",
        default=REDIS_URL,
        metavar="URL",
        help=f"the Redis of the rows with limits on Redis (default {REDIS_URL}); "
        "each gateway uses a namespace of its own and its keys are deleted after",
    )
    parser.add_argument(
        "--micro-only",
        action="store_true",
        help="run only the in-process micro cases (no nginx, no wrk, no server)",
    )
    parser.add_argument(
        "--micro-seconds",
        type=float,
        default=2.5,
        help="seconds timed per micro case, both sides together (default 2.5)",
    )
    parser.add_argument(
        "--micro-warmup",
        type=float,
        default=0.5,
        help="seconds of untimed calls before each micro case (default 0.5)",
    )
    parser.add_argument("--list", action="store_true", help="list the rows and micro cases and exit")
    args = parser.parse_args(argv)
    if min(args.duration, args.connections, args.threads, args.rounds) < 1 or args.warmup < 0:
        parser.error(
            "--duration, --connections, --threads and --rounds must be at least 1, --warmup at least 0"
        )
    if args.micro_seconds <= 0 or args.micro_warmup < 0:
        parser.error("--micro-seconds must be above 0, --micro-warmup at least 0")
    if args.threads > args.connections:
        parser.error("--threads must not exceed --connections (wrk needs one connection per thread)")
    return args


if __name__ == "__main__":
    sys.exit(main())
