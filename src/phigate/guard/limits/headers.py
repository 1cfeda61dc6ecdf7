"""The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers), from one bucket's verdict.

::

    RateLimit-Policy: "client";q=1000;w=60      a quota of 1000 per 60-second window
    RateLimit: "client";r=12;t=5                 12 left; the window resets in 5 seconds
"""

from __future__ import annotations

import math

from phigate.guard.limits.gcra import MICROS
from phigate.guard.limits.subjects import Verdict


def policy_headers(verdict: Verdict) -> tuple[tuple[str, str], ...]:
    check = verdict.check
    name = check.policy
    reset = math.ceil(verdict.reset / MICROS)
    return (
        ("ratelimit-policy", f'"{name}";q={check.quota};w={check.window}'),
        ("ratelimit", f'"{name}";r={max(0, verdict.remaining)};t={reset}'),
    )


def tightest(verdicts: list[Verdict]) -> Verdict | None:
    """The verdict a caller most needs to hear about: the first refusal, else the fewest remaining."""
    refused = [v for v in verdicts if not v.allowed]
    if refused:
        return max(refused, key=lambda v: v.retry_after)
    return min(verdicts, key=lambda v: v.remaining, default=None)
