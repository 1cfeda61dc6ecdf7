"""What one request is counted against: buckets keyed by subject, and what they decided.

A *subject* is who or what a limit counts (``client:acme-lab``, ``vendor:acme``,
``ip:203.0.113.9``, ``global``); a subject may have several named buckets (its
own rate, one per interaction). Monitoring's control point (a block, a
tightened rate) attaches to a subject, and reaches every bucket of it marked
``controlled``.
"""

from __future__ import annotations

from dataclasses import dataclass

from phigate.guard.limits.gcra import Bucket


@dataclass(frozen=True, slots=True)
class BucketCheck:
    """One bucket one request spends from. ``policy`` names it in the RateLimit headers."""

    subject: str
    name: str
    bucket: Bucket
    cost: int = 1
    window: int = 60  # the configured rate's period in seconds, for RateLimit-Policy
    quota: int = 0  # the configured count per window, for RateLimit-Policy
    controlled: bool = False  # honours the control point's block and tightening of the subject
    peek: bool = False  # answer without spending

    @property
    def policy(self) -> str:
        return self.subject.partition(":")[0] if self.name == "rate" else self.name


@dataclass(frozen=True, slots=True)
class Verdict:
    """One bucket's answer; times in microseconds."""

    check: BucketCheck
    allowed: bool
    remaining: int
    retry_after: int
    reset: int
    blocked: bool = False  # refused by a block on the subject, not by its rate


@dataclass(frozen=True, slots=True)
class Control:
    """What the control point set on a subject: a block until a time, a tighter bucket until a time."""

    blocked_until: int = 0
    tightened: Bucket | None = None
    tightened_until: int = 0

    def tightening(self, now: int) -> Bucket | None:
        """The extra bucket a tightened subject's requests also pass through (kept apart from its own,
        so lifting the tightening leaves the subject's own bucket as it would have been)."""
        return self.tightened if self.tightened is not None and self.tightened_until > now else None
