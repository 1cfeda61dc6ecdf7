"""The security assessment questionnaire, scored into a risk rating with its reasons.

Scoring rules (documented here, tested band by band):

- every question has a set of allowed answers; each answer carries *risk points*
  (0 for the best answer) and, when it scores, a reason shown to the reviewer;
- the points are summed: 0-9 is **low**, 10-24 **medium**, 25-44 **high**, 45 or
  more **critical**;
- some answers are *floors*: whatever the sum, no encryption at rest or TLS below
  1.2 makes the rating at least **high**, and an answer of "no" to "do you
  notify us of breaches" makes it **critical** (no notification means no
  breach clock can be met);
- the rating is the vendor's tier: it sets when the next review is due
  (critical 3 months, high 6, medium 12, low 24; ISO 27001 A.5.22).

A missing answer scores as the worst answer for that question: the unknown is
treated as the risk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from phigate.types import VendorId
from phigate.vendors.evidence import add_months
from phigate.vendors.records import RegistrationError


class RiskBand(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


BAND_FLOORS = ((45, RiskBand.critical), (25, RiskBand.high), (10, RiskBand.medium), (0, RiskBand.low))
REVIEW_MONTHS = {RiskBand.critical: 3, RiskBand.high: 6, RiskBand.medium: 12, RiskBand.low: 24}
_ORDER = list(RiskBand)


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    points: dict[str, int]  # answer -> risk points
    reasons: dict[str, str]  # answer -> reason shown when it scores
    floor: dict[str, RiskBand]  # answer -> the least band it forces


def _q(
    qid: str, text: str, points: dict[str, int], reason: str, floor: dict[str, RiskBand] | None = None
) -> Question:
    return Question(qid, text, points, {answer: reason for answer, p in points.items() if p}, floor or {})


YES_NO = {"yes": 0, "no": 1}
QUESTIONS: tuple[Question, ...] = (
    _q("certification", "Current SOC 2 Type II or ISO 27001?", {"both": 0, "one": 0, "none": 10},
       "no current independent security certification"),
    _q("hipaa_compliance", "HIPAA Security Rule programme with a named security officer?",
       {"yes": 0, "no": 8}, "no HIPAA security programme"),
    _q("gdpr_compliance", "GDPR Art. 28 processor obligations met (DPA, records, DPO)?",
       {"yes": 0, "no": 5, "not_applicable": 0}, "GDPR processor obligations not met"),
    _q("tls", "Lowest TLS version accepted in transit?", {"1.3": 0, "1.2": 1, "1.1": 15, "1.0": 20},
       "accepts TLS below 1.2", {"1.1": RiskBand.high, "1.0": RiskBand.high}),
    _q("encryption_at_rest", "Encryption at rest?", {"aes-256": 0, "aes-128": 2, "none": 20},
       "weak or no encryption at rest", {"none": RiskBand.high}),
    _q("mfa", "MFA for all staff with access to our data?", {"yes": 0, "privileged_only": 4, "no": 10},
       "no multi-factor authentication for everyone with access"),
    _q("access_control", "Least-privilege access with quarterly reviews?", {"yes": 0, "no": 6},
       "no least-privilege access reviews"),
    _q("logging", "Security logs kept at least one year and monitored?", {"yes": 0, "no": 6},
       "security logs not kept or not monitored"),
    _q("incident_response", "Tested incident-response plan?", {"yes": 0, "no": 8},
       "no tested incident-response plan"),
    _q("breach_notice", "Do you notify us of breaches within the contract window?", {"yes": 0, "no": 20},
       "no commitment to notify breaches", {"no": RiskBand.critical}),
    _q("subprocessors", "Subprocessors listed and bound by equivalent terms?", {"yes": 0, "no": 5},
       "subprocessors not listed or not bound"),
    _q("data_location", "Where is our data stored and processed?",
       {"contracted": 0, "disclosed": 2, "unknown": 8}, "data location not known or not contracted"),
)  # fmt: skip
QUESTION_IDS = tuple(q.id for q in QUESTIONS)


@dataclass(frozen=True)
class RiskRating:
    score: int
    band: RiskBand
    reasons: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Assessment:
    id: str
    vendor_id: VendorId
    answers: dict[str, str]
    assessed_at: datetime
    assessor: str
    rating: RiskRating
    review_due: date


def check_answers(answers: dict[str, str]) -> dict[str, str]:
    """The answers, refused when one names an unknown question or an answer the question does not allow."""
    by_id = {q.id: q for q in QUESTIONS}
    for qid, answer in answers.items():
        question = by_id.get(qid)
        if question is None:
            raise RegistrationError(
                "answers", f"unknown question '{qid[:40]}' (known: {', '.join(QUESTION_IDS)})"
            )
        if answer not in question.points:
            raise RegistrationError(f"answers.{qid}", f"answer one of {', '.join(question.points)}")
    return dict(answers)


def score(answers: dict[str, str]) -> RiskRating:
    """The risk rating of a set of answers, with one reason per answer that scored (see module doc)."""
    total, reasons, floor = 0, [], RiskBand.low
    for question in QUESTIONS:
        answer = answers.get(question.id)
        if answer is None:
            worst = max(question.points, key=lambda a: question.points[a])
            total += question.points[worst]
            reasons.append(f"{question.id}: not answered (scored as '{worst}')")
            floor = _higher(floor, question.floor.get(worst, RiskBand.low))
            continue
        points = question.points[answer]
        total += points
        if points:
            reasons.append(f"{question.id}: {question.reasons[answer]} (+{points})")
        floor = _higher(floor, question.floor.get(answer, RiskBand.low))
    band = _higher(next(b for limit, b in BAND_FLOORS if total >= limit), floor)
    if band is not _band_of(total):
        reasons.append(f"rated {band.value} at least: a disqualifying answer")
    return RiskRating(total, band, tuple(reasons))


def assess(
    assessment_id: str, vendor_id: VendorId, answers: dict[str, str], assessor: str, now: datetime
) -> Assessment:
    answers = check_answers(answers)
    rating = score(answers)
    due = add_months(now.date(), REVIEW_MONTHS[rating.band])
    return Assessment(
        id=assessment_id, vendor_id=vendor_id, answers=answers, assessed_at=now,
        assessor=assessor, rating=rating, review_due=due,
    )  # fmt: skip


def _band_of(total: int) -> RiskBand:
    return next(band for limit, band in BAND_FLOORS if total >= limit)


def _higher(first: RiskBand, second: RiskBand) -> RiskBand:
    return first if _ORDER.index(first) >= _ORDER.index(second) else second
