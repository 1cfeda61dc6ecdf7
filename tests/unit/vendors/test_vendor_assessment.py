"""Risk scoring: each band by its documented rule, floors, unanswered questions, review due by tier."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from phigate.types import VendorId
from phigate.vendors.assessment import QUESTIONS, RiskBand, assess, score
from phigate.vendors.records import RegistrationError

BEST = {q.id: min(q.points, key=lambda a, q=q: q.points[a]) for q in QUESTIONS}  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "points", "band"),
    [
        ({}, 0, RiskBand.low),
        ({"tls": "1.2", "data_location": "disclosed", "encryption_at_rest": "aes-128"}, 5, RiskBand.low),
        ({"certification": "none"}, 10, RiskBand.medium),  # the lowest medium score
        ({"certification": "none", "mfa": "no", "access_control": "no"}, 26, RiskBand.high),
        ({"certification": "none", "mfa": "no", "logging": "no", "incident_response": "no",
          "hipaa_compliance": "no", "subprocessors": "no"}, 47, RiskBand.critical),
    ],
)  # fmt: skip
def test_each_band_follows_the_points(changes: dict[str, str], points: int, band: RiskBand) -> None:
    rating = score({**BEST, **changes})
    assert (rating.score, rating.band) == (points, band)
    assert len(rating.reasons) == sum(1 for k, v in changes.items() if v != BEST[k])


@pytest.mark.parametrize(
    ("changes", "band"),
    [({"encryption_at_rest": "none"}, RiskBand.high), ({"tls": "1.0"}, RiskBand.high),
     ({"breach_notice": "no"}, RiskBand.critical)],
)  # fmt: skip
def test_disqualifying_answers_set_a_floor(changes: dict[str, str], band: RiskBand) -> None:
    rating = score({**BEST, **changes})
    assert rating.band is band
    assert rating.reasons[-1].startswith(f"rated {band.value} at least")


def test_an_unanswered_question_scores_as_its_worst_answer() -> None:
    answers = dict(BEST)
    del answers["mfa"]
    rating = score(answers)
    assert rating.score == 10 and "mfa: not answered (scored as 'no')" in rating.reasons


def test_review_due_date_follows_the_tier() -> None:
    now = datetime(2026, 11, 28, tzinfo=UTC)
    low = assess("as-1", VendorId("a"), BEST, "ciso", now)
    critical = assess("as-2", VendorId("a"), {**BEST, "breach_notice": "no"}, "ciso", now)
    assert low.review_due == date(2028, 11, 28) and critical.review_due == date(2027, 2, 28)


def test_unknown_questions_and_answers_are_refused() -> None:
    with pytest.raises(RegistrationError, match="unknown question"):
        assess("as-1", VendorId("a"), {"colour": "blue"}, "ciso", datetime.now(UTC))
    with pytest.raises(RegistrationError, match=r"answers\.tls"):
        assess("as-1", VendorId("a"), {"tls": "0.9"}, "ciso", datetime.now(UTC))
