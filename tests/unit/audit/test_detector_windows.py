"""The distinct-items window behind the many-patients detector: the same count as a sliding window
of every sighting, kept in memory proportional to the distinct items, not to the traffic."""

from __future__ import annotations

import random

from phigate.audit.events import AuditEvent, Kind
from phigate.monitor.detectors.rules import DistinctPatients
from phigate.monitor.detectors.windows import DistinctWindow
from phigate.settings.audit import DetectorSettings


def sliding_count(sightings: list[tuple[float, str]], now: float, seconds: float) -> int:
    """Distinct items among the sightings still inside the window at ``now``."""
    return len({item for at, item in sightings if at > now - seconds})


def test_it_counts_what_a_window_of_every_sighting_counts() -> None:
    rng = random.Random(7)
    window, seen, at = DistinctWindow[str](30.0), [], 0.0
    for _ in range(3000):
        at += rng.choice((0.0, 0.1, 0.5, 2.0, 9.0))
        items = [f"pat-{rng.randrange(60)}" for _ in range(rng.randrange(1, 4))]
        seen += [(at, item) for item in items]
        assert window.add("lab", at, items) == sliding_count(seen, at, 30.0)


def test_a_patient_read_again_and_again_is_one_entry_that_stays_while_it_is_read() -> None:
    window = DistinctWindow[str](60.0)
    for second in range(10_000):
        assert window.add("lab", float(second), ["pat-1"]) == 1
    assert window.add("lab", 10_058.0, ["pat-2"]) == 2  # pat-1 was last read at 9,999: still inside
    assert window.add("lab", 10_059.5, ["pat-2"]) == 1  # now it is not


def test_subjects_are_counted_apart() -> None:
    window = DistinctWindow[str](60.0)
    window.add("lab", 1.0, ["pat-1", "pat-2"])
    assert window.add("pharmacy", 2.0, ["pat-3"]) == 1
    assert window.add("lab", 3.0, ["pat-3"]) == 3


def read(at: float, patient: str) -> AuditEvent:
    return AuditEvent(Kind.exchange, "read", at, client_id="lab", source_ip="10.0.0.5", status=200,
                      resource_ids=(patient,), patients=(patient,))  # fmt: skip


def test_scraping_within_the_window_alerts_and_the_same_reads_spread_out_do_not() -> None:
    settings = DetectorSettings(distinct_patients=50, distinct_patients_window_seconds=300.0)
    fast, slow = DistinctPatients(settings), DistinctPatients(settings)
    burst = [fast.observe(read(1000.0 + i, f"pat-{i}")) for i in range(50)]
    assert [a is not None for a in burst] == [False] * 49 + [True]
    assert burst[-1] is not None and "50 distinct patients within 300s" in burst[-1].explanation
    spread = [slow.observe(read(1000.0 + 7.0 * i, f"pat-{i}")) for i in range(100)]  # 43 per 300 s
    assert spread == [None] * 100


def test_many_reads_of_one_patient_never_alert() -> None:
    detector = DistinctPatients(DetectorSettings(distinct_patients=2))
    assert all(detector.observe(read(1000.0 + i / 100, "pat-1")) is None for i in range(5000))
