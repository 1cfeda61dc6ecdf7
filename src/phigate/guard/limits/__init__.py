"""The traffic guard (issue 5): rate limits, concurrency caps, IP rules, the control point.

Pure domain: rates become GCRA buckets (:mod:`.gcra`), a :class:`TrafficPlan`
names the buckets a request spends from, a :class:`LimitStore` (in-process or
Redis, in :mod:`phigate.adapters`) spends them atomically, and refusals are
errors of the one tree (429 with Retry-After and RateLimit headers, 403 for an
address). The pipeline stages that use them live in ``phigate.pipeline.traffic``.
"""

from __future__ import annotations

from phigate.guard.limits.addresses import AddressRule, parse_address
from phigate.guard.limits.control import TrafficControl
from phigate.guard.limits.gcra import MICROS, UNLIMITED, Admission, Bucket, admit
from phigate.guard.limits.headers import policy_headers, tightest
from phigate.guard.limits.plan import Concurrency, Limit, SubjectPlan, TrafficPlan
from phigate.guard.limits.refusals import AddressRefused, RateLimited, TooManyInFlight
from phigate.guard.limits.store import LimitStore
from phigate.guard.limits.subjects import BucketCheck, Control, Verdict

__all__ = [
    "MICROS",
    "UNLIMITED",
    "AddressRefused",
    "AddressRule",
    "Admission",
    "Bucket",
    "BucketCheck",
    "Concurrency",
    "Control",
    "Limit",
    "LimitStore",
    "RateLimited",
    "SubjectPlan",
    "TooManyInFlight",
    "TrafficControl",
    "TrafficPlan",
    "Verdict",
    "admit",
    "parse_address",
    "policy_headers",
    "tightest",
]
