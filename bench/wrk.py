"""Running wrk and reading its output.

wrk prints a human report; :func:`parse_wrk` turns it into a :class:`WrkRun`. The Lua script
``statuses.lua`` adds one line, ``phigate-bench statuses {...}``, with a count per HTTP status,
because wrk alone only says "Non-2xx or 3xx responses" and a deny row must prove it saw 401s,
not 500s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

STATUS_SCRIPT = Path(__file__).with_name("statuses.lua")
STATUS_MARK = "phigate-bench statuses "

_TIME_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_TIME = r"([\d.]+)(us|ms|s|m|h)"
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


class WrkOutputError(ValueError):
    """wrk's output lacks a line the benchmark needs (wrong wrk version, or wrk failed)."""


@dataclass(frozen=True)
class SocketErrors:
    connect: int = 0
    read: int = 0
    write: int = 0
    timeout: int = 0

    @property
    def total(self) -> int:
        return self.connect + self.read + self.write + self.timeout


@dataclass(frozen=True)
class WrkRun:
    """One wrk run; times in milliseconds."""

    requests: int
    duration_s: float
    requests_per_s: float
    bytes_read: int
    latency_avg_ms: float
    latency_max_ms: float
    percentiles_ms: Mapping[str, float]  # "50", "75", "90", "99"
    socket_errors: SocketErrors = SocketErrors()
    non_2xx_3xx: int = 0
    statuses: Mapping[int, int] = field(default_factory=dict)  # empty when the Lua script did not run


def wrk_command(
    url: str,
    *,
    connections: int,
    duration_s: float,
    threads: int = 1,
    headers: Mapping[str, str] | None = None,
    cpu: int | None = None,
    timeout_s: float = 5.0,
) -> list[str]:
    """The argv of one wrk run, pinned to ``cpu`` with taskset when given."""
    command = ["taskset", "-c", str(cpu)] if cpu is not None else []
    command += [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={max(1, round(timeout_s))}s",
        "--latency",
        "-s",
        str(STATUS_SCRIPT),
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    return [*command, url]


def parse_wrk(text: str) -> WrkRun:
    """Read wrk 4's ``--latency`` report; raise :class:`WrkOutputError` when a needed line is missing."""
    totals = _search(r"^\s*(\d+) requests in " + _TIME + r", ([\d.]+)([KMGT]?B) read", text, "request total")
    latency = _search(r"^\s*Latency\s+" + _TIME + r"\s+" + _TIME + r"\s+" + _TIME, text, "latency")
    rate = _search(r"^Requests/sec:\s+([\d.]+)", text, "Requests/sec")
    percentiles = {
        m.group(1): _ms(m.group(2), m.group(3))
        for m in re.finditer(r"^\s*(50|75|90|99)%\s+" + _TIME, text, re.MULTILINE)
    }
    if set(percentiles) != {"50", "75", "90", "99"}:
        raise WrkOutputError("wrk output has no latency distribution (was --latency given?)")
    return WrkRun(
        requests=int(totals.group(1)),
        duration_s=_ms(totals.group(2), totals.group(3)) / 1000.0,
        requests_per_s=float(rate.group(1)),
        bytes_read=round(float(totals.group(4)) * _SIZE_UNITS[totals.group(5)]),
        latency_avg_ms=_ms(latency.group(1), latency.group(2)),
        latency_max_ms=_ms(latency.group(5), latency.group(6)),
        percentiles_ms=percentiles,
        socket_errors=_socket_errors(text),
        non_2xx_3xx=_optional_int(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", text),
        statuses=_statuses(text),
    )


def unexpected(run: WrkRun, expected_status: int) -> list[str]:
    """What in ``run`` says the target did not answer as the scenario expects (empty when it did)."""
    problems = []
    if run.requests == 0:
        problems.append("no request completed")
    if run.socket_errors.total:
        e = run.socket_errors
        problems.append(
            f"socket errors: connect {e.connect}, read {e.read}, write {e.write}, timeout {e.timeout}"
        )
    expect_2xx_3xx = 200 <= expected_status < 400
    if expect_2xx_3xx and run.non_2xx_3xx:
        problems.append(f"{run.non_2xx_3xx} non-2xx/3xx responses")
    if not expect_2xx_3xx and run.non_2xx_3xx != run.requests:
        problems.append(
            f"{run.requests - run.non_2xx_3xx} responses were 2xx/3xx, expected {expected_status}"
        )
    others = {s: n for s, n in run.statuses.items() if s != expected_status}
    if others:
        listed = ", ".join(f"{n} x {s}" for s, n in sorted(others.items()))
        problems.append(f"statuses other than {expected_status}: {listed}")
    return problems


def _search(pattern: str, text: str, what: str) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise WrkOutputError(f"wrk output has no {what} line")
    return match


def _ms(value: str, unit: str) -> float:
    return float(value) * _TIME_UNITS[unit]


def _optional_int(pattern: str, text: str) -> int:
    match = re.search(pattern, text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def _socket_errors(text: str) -> SocketErrors:
    match = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text, re.MULTILINE
    )
    if match is None:
        return SocketErrors()
    connect, read, write, timeout = (int(g) for g in match.groups())
    return SocketErrors(connect=connect, read=read, write=write, timeout=timeout)


def _statuses(text: str) -> dict[int, int]:
    for line in text.splitlines():
        if line.startswith(STATUS_MARK):
            counts: Mapping[str, int] = json.loads(line[len(STATUS_MARK) :])
            return {int(status): int(n) for status, n in counts.items()}
    return {}
