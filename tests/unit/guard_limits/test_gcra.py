"""The GCRA bucket against its specification, property-based.

Specification (phigate.guard.limits.gcra): a bucket of ``capacity`` and
``interval`` lets at most ``capacity`` requests through at once, at most
``capacity + W / interval`` in any window of length W (so for N per period, at
most N + burst in any window of one period), refuses without spending, and a
refused request retried after its ``retry_after`` passes.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from phigate.guard.limits import MICROS, Bucket, admit
from phigate.settings.traffic import Rate, parse_rate

START = 1_700_000_000 * MICROS

rates = st.builds(
    lambda count, unit: parse_rate(f"{count} requests/{unit}"),
    st.integers(1, 500),
    st.sampled_from(["second", "minute", "hour"]),
)
bursts = st.one_of(st.none(), st.integers(1, 200))


def run(bucket: Bucket, gaps: list[int], costs: list[int] | None = None) -> list[tuple[int, int]]:
    """Feed arrivals (gaps in microseconds); return (time, cost) of the ones that passed."""
    tat: int | None = None
    now = START
    passed = []
    for index, gap in enumerate(gaps):
        now += gap
        cost = costs[index] if costs else 1
        admission = admit(tat, now, cost, bucket)
        if admission.allowed:
            tat = admission.tat
            passed.append((now, min(cost, bucket.capacity)))
        else:
            assert admission.tat == max(tat or now, now)  # a refusal spends nothing
    return passed


def most_in_any_window(passed: list[tuple[int, int]], window: int) -> int:
    best, left, total = 0, 0, 0
    for right in range(len(passed)):
        total += passed[right][1]
        while passed[right][0] - passed[left][0] >= window:
            total -= passed[left][1]
            left += 1
        best = max(best, total)
    return best


@settings(max_examples=300, deadline=None)
@given(rate=rates, burst=bursts, data=st.data())
def test_never_more_than_the_limit_plus_the_burst_in_any_window(
    rate: Rate, burst: int | None, data: st.DataObject
) -> None:
    bucket = Bucket.of(rate, burst)
    period = int(rate.period * MICROS)
    # Arrivals from "all at once" to "slower than the rate", and long idle gaps.
    gap = st.one_of(st.just(0), st.integers(0, bucket.interval * 2), st.integers(0, period * 2))
    gaps = data.draw(st.lists(gap, min_size=1, max_size=600))
    passed = run(bucket, gaps)
    capacity = burst if burst is not None else rate.count
    assert most_in_any_window(passed, period) <= rate.count + capacity
    assert most_in_any_window(passed, 1) <= capacity  # at once: never more than the burst


@settings(max_examples=200, deadline=None)
@given(rate=rates, burst=bursts, data=st.data())
def test_costs_are_counted_in_the_same_budget(rate: Rate, burst: int | None, data: st.DataObject) -> None:
    bucket = Bucket.of(rate, burst)
    period = int(rate.period * MICROS)
    gaps = data.draw(st.lists(st.integers(0, bucket.interval * 3), min_size=1, max_size=300))
    costs = data.draw(st.lists(st.integers(1, 12), min_size=len(gaps), max_size=len(gaps)))
    passed = run(bucket, gaps, costs)
    assert most_in_any_window(passed, period) <= rate.count + bucket.capacity


@settings(max_examples=200, deadline=None)
@given(rate=rates, burst=bursts, spent=st.integers(0, 400), cost=st.integers(1, 20))
def test_a_refused_request_passes_once_its_retry_after_has_passed(
    rate: Rate, burst: int | None, spent: int, cost: int
) -> None:
    bucket = Bucket.of(rate, burst)
    tat: int | None = None
    for _ in range(spent):
        tat = admit(tat, START, 1, bucket).tat
    refused = admit(tat, START, cost, bucket)
    if refused.allowed:
        return
    assert refused.retry_after > 0
    assert admit(tat, START + refused.retry_after - 1, cost, bucket).allowed is False
    assert admit(tat, START + refused.retry_after, cost, bucket).allowed is True


@given(rate=rates, burst=bursts)
def test_a_full_bucket_lets_the_whole_burst_through_at_once_then_refuses(
    rate: Rate, burst: int | None
) -> None:
    bucket = Bucket.of(rate, burst)
    passed = run(bucket, [0] * (bucket.capacity + 5))
    assert len(passed) == bucket.capacity


def test_peek_answers_without_spending() -> None:
    bucket = Bucket.of(parse_rate("2 requests/minute"), 2)
    tat = admit(None, START, 1, bucket).tat
    for _ in range(5):
        peeked = admit(tat, START, 1, bucket, peek=True)
        assert peeked.allowed and peeked.tat == tat
    tat = admit(tat, START, 1, bucket).tat
    assert admit(tat, START, 1, bucket, peek=True).allowed is False


def test_remaining_and_reset_report_the_bucket() -> None:
    bucket = Bucket.of(parse_rate("10 requests/minute"))  # burst defaults to the count
    first = admit(None, START, 1, bucket)
    assert (first.remaining, first.reset) == (9, 6 * MICROS)
    after = admit(first.tat, START, 3, bucket)
    assert (after.remaining, after.reset) == (6, 24 * MICROS)


def test_tightening_takes_the_stricter_of_each_axis() -> None:
    own = Bucket.of(parse_rate("100 requests/second"), 500)
    tighter = own.tightened(Bucket.of(parse_rate("10 requests/minute"), 1000))
    assert tighter.capacity == 500 and tighter.interval == 6 * MICROS
