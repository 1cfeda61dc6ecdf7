from __future__ import annotations

import pytest

from phigate.audit.retention import SECONDS_PER_DAY, Hold, cutoff


def test_a_hold_matches_only_when_every_condition_given_does() -> None:
    hold = Hold(patient="p1", client_id="c1", since=100.0, until=200.0, reason="case")
    event = {"patients": ["p1", "p2"], "client_id": "c1", "recorded": 150.0}
    assert hold.matches(event)
    assert not hold.matches(event | {"client_id": "c2"})
    assert not hold.matches(event | {"patients": ["p2"]})
    assert not hold.matches(event | {"recorded": 200.0})  # the range ends before `until`


def test_a_hold_names_something_and_a_range_runs_forward() -> None:
    with pytest.raises(ValueError, match="names a patient"):
        Hold(reason="nothing")
    with pytest.raises(ValueError, match="ends after it starts"):
        Hold(since=5.0, until=5.0)


def test_the_cutoff_never_reaches_into_the_retention_period() -> None:
    now, days = 10_000 * SECONDS_PER_DAY, 2192
    limit = now - days * SECONDS_PER_DAY
    assert cutoff(now, days, None) == limit
    assert cutoff(now, days, limit - 1) == limit - 1
    with pytest.raises(ValueError, match="retention_days"):
        cutoff(now, days, limit + 1)
