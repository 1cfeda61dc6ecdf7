"""The micro section of ``make bench``: one piece of the gateway's work, timed in-process.

A :class:`MicroCase` is a declarative entry: a ``setup`` that builds its input once, the
``measured`` callable (the gateway's work, e.g. ``inspect_request``), the ``baseline`` callable
(what the gateway would do for the same input without that work, e.g. ``orjson.loads`` of the
body) and a ``check`` that the measured call took the path the case means to time (a request
the validator refuses would time the refusal). The cases live in ``micro_cases.CASES``.

:func:`time_case` times both callables side by side with ``time.perf_counter_ns``: a warm-up
that also sizes the batches, then batches alternating between the two (so that a slow moment of
the machine hits both), and the median of the batches' time per call for each. No server, no
network: it needs neither nginx nor wrk. The rest of this module is pure formatting.
"""

from __future__ import annotations

import gc
import itertools
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

BATCHES = 20  # per side; their median shrugs off the few batches that other work on the machine hits
MIN_CHUNK_NS = 10_000_000  # warm-up chunks grow until one takes 10 ms, so the clock's cost is negligible
RESULT_WIDTH = 160

Clock = Callable[[], int]


@dataclass(frozen=True)
class Prepared:
    """What a case's setup built: the value both callables take, and a few words on its size."""

    value: Any
    detail: str
    close: Callable[[], None] | None = None  # frees what setup opened (a store, a loop), once timed


def _no_check(result: object) -> str | None:
    return None


@dataclass(frozen=True)
class MicroCase:
    name: str
    request: str  # what is processed, e.g. "POST /fhir/Observation"
    about: str
    setup: Callable[[], Prepared]  # run once per run, outside the timing
    measured: Callable[[Any], object]
    measured_label: str
    baseline: Callable[[Any], object]
    baseline_label: str
    # Given the measured call's result once before timing: None, or why the case must not be
    # timed (the measured work did not take the path the case is about).
    check: Callable[[object], str | None] = _no_check


@dataclass(frozen=True)
class Timing:
    """One callable's batches: nanoseconds per call in each batch, and the calls a batch made."""

    label: str
    batch_ns: tuple[float, ...]
    calls_per_batch: int

    @property
    def median_us(self) -> float:
        return statistics.median(self.batch_ns) / 1000

    @property
    def low_us(self) -> float:
        return min(self.batch_ns) / 1000

    @property
    def high_us(self) -> float:
        return max(self.batch_ns) / 1000


@dataclass(frozen=True)
class MicroResult:
    case: MicroCase
    detail: str = ""
    measured: Timing | None = None
    baseline: Timing | None = None
    problems: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        if self.problems or self.measured is None or self.baseline is None:
            return "FAILED"
        return "ok"

    @property
    def added_us(self) -> float:
        """Microseconds the measured work adds to one request beyond the baseline (medians)."""
        if self.measured is None or self.baseline is None:
            return 0.0
        return self.measured.median_us - self.baseline.median_us

    @property
    def ratio(self) -> float:
        """The measured median as a multiple of the baseline median."""
        if self.measured is None or self.baseline is None or self.baseline.median_us <= 0:
            return 0.0
        return self.measured.median_us / self.baseline.median_us


def select(cases: Sequence[MicroCase], names: Sequence[str]) -> tuple[MicroCase, ...]:
    """The cases named in ``names``, in list order (every case when ``names`` is empty)."""
    if not names:
        return tuple(cases)
    return tuple(c for c in cases if c.name in names)


def time_case(
    case: MicroCase,
    seconds: float,
    warmup_s: float,
    batches: int = BATCHES,
    clock: Clock = time.perf_counter_ns,
) -> MicroResult:
    """Time ``case``: ``warmup_s`` seconds of warm-up, then about ``seconds`` for both sides together.

    Garbage collection stays on, as in the gateway: the collections a callable's allocations
    cause are part of its cost. A setup that raises or a failed check fails the case untimed.
    """
    try:
        prepared = case.setup()
    except Exception as exc:  # a broken case fails its row, not the run
        return MicroResult(case, problems=(f"{type(exc).__name__}: {exc}",))
    try:
        return _time_prepared(case, prepared, seconds, warmup_s, batches, clock)
    finally:
        if prepared.close is not None:
            prepared.close()


def _time_prepared(
    case: MicroCase, prepared: Prepared, seconds: float, warmup_s: float, batches: int, clock: Clock
) -> MicroResult:
    try:
        problem = case.check(case.measured(prepared.value))
        if problem is None:
            case.baseline(prepared.value)  # a baseline that cannot run fails here, not mid-timing
    except Exception as exc:  # a broken case fails its row, not the run
        return MicroResult(case, detail=prepared.detail, problems=(f"{type(exc).__name__}: {exc}",))
    if problem is not None:
        return MicroResult(case, detail=prepared.detail, problems=(problem,))
    sides = (case.measured, case.baseline)
    value = prepared.value
    per_call = [_warm_up(fn, value, warmup_s / 2, clock) for fn in sides]
    target_ns = seconds * 1e9 / (2 * batches)
    calls = [max(1, int(target_ns / max(ns, 1.0))) for ns in per_call]
    samples: tuple[list[float], list[float]] = ([], [])
    gc.collect()
    for number in range(batches):
        order = (0, 1) if number % 2 == 0 else (1, 0)  # neither side always runs first
        for side in order:
            samples[side].append(_batch(sides[side], value, calls[side], clock) / calls[side])
    return MicroResult(
        case,
        detail=prepared.detail,
        measured=Timing(case.measured_label, tuple(samples[0]), calls[0]),
        baseline=Timing(case.baseline_label, tuple(samples[1]), calls[1]),
    )


def _warm_up(fn: Callable[[Any], object], value: Any, seconds: float, clock: Clock) -> float:
    """Call ``fn`` in growing chunks for ``seconds``; nanoseconds per call in the last chunk."""
    calls, spent = 1, 0
    while True:
        took = _batch(fn, value, calls, clock)
        spent += took
        if spent >= seconds * 1e9 and took >= MIN_CHUNK_NS:
            return took / calls
        if took < MIN_CHUNK_NS:
            calls *= 2


def _batch(fn: Callable[[Any], object], value: Any, calls: int, clock: Clock) -> int:
    start = clock()
    for _ in itertools.repeat(None, calls):
        fn(value)
    return clock() - start


def table(results: Sequence[MicroResult]) -> str:
    """A Markdown table, one line per case, readable as plain text too."""
    heads = ["case", "request", "measured", "µs", "baseline", "µs", "added µs", "ratio", "result"]
    lines = ["| " + " | ".join(heads) + " |", "|---|---|---|---:|---|---:|---:|---:|---|"]
    for r in results:
        request = f"{r.case.request} ({r.detail})" if r.detail else r.case.request
        cells = [r.case.name, request, r.case.measured_label, "", r.case.baseline_label, "", "", ""]
        if r.measured is not None and r.baseline is not None:
            cells[3], cells[5] = us(r.measured.median_us), us(r.baseline.median_us)
            cells[6], cells[7] = us(r.added_us, signed=True), f"{r.ratio:,.1f}x"
        lines.append("| " + " | ".join([*cells, _cell(result_text(r))]) + " |")
    return "\n".join(lines)


def lines(results: Sequence[MicroResult]) -> list[str]:
    """One sentence per timed case: both medians, what the measured work adds, and the ratio."""
    return [
        f"{r.case.name}: {r.case.measured_label} {us(r.measured.median_us)} µs, "
        f"{r.case.baseline_label} {us(r.baseline.median_us)} µs per request: "
        f"{us(r.added_us, signed=True)} µs ({r.ratio:,.1f}x)"
        for r in results
        if r.measured is not None and r.baseline is not None
    ]


def result_text(r: MicroResult) -> str:
    if r.problems:
        return "FAILED: " + "; ".join(r.problems)
    if r.measured is None:
        return "FAILED: not timed"
    return f"ok (batches {us(r.measured.low_us)}-{us(r.measured.high_us)} µs)"


def document(results: Sequence[MicroResult]) -> list[dict[str, Any]]:
    """The ``micro`` list of the JSON result."""
    return [
        {
            "name": r.case.name,
            "request": r.case.request,
            "detail": r.detail,
            "about": r.case.about,
            "verdict": r.verdict,
            "problems": list(r.problems),
            "measured": _timing_json(r.measured),
            "baseline": _timing_json(r.baseline),
            "added_us_per_request": round(r.added_us, 3),
            "ratio": round(r.ratio, 3),
        }
        for r in results
    ]


def failed(results: Sequence[MicroResult]) -> list[MicroResult]:
    return [r for r in results if r.verdict == "FAILED"]


def us(value: float, signed: bool = False) -> str:
    """Microseconds with about three significant digits: 2.07, 41.3, 1,204."""
    sign = "+" if signed else ""
    if abs(value) >= 1000:
        return f"{value:{sign},.0f}"
    if abs(value) >= 10:
        return f"{value:{sign}.1f}"
    return f"{value:{sign}.2f}"


def _timing_json(timing: Timing | None) -> dict[str, Any] | None:
    if timing is None:
        return None
    return {
        "label": timing.label,
        "median_us": round(timing.median_us, 3),
        "min_us": round(timing.low_us, 3),
        "max_us": round(timing.high_us, 3),
        "batch_us": [round(ns / 1000, 3) for ns in timing.batch_ns],
        "calls_per_batch": timing.calls_per_batch,
    }


def _cell(text: str) -> str:
    flat = " ".join(text.replace("|", "/").split())
    return flat if len(flat) <= RESULT_WIDTH else flat[: RESULT_WIDTH - 3] + "..."
