"""The traffic guard's refusals, as errors of phigate's one tree (rendered as OperationOutcome)."""

from __future__ import annotations

import math

from phigate.errors import Forbidden, RequestError
from phigate.guard.limits.gcra import MICROS
from phigate.guard.limits.headers import policy_headers
from phigate.guard.limits.subjects import Verdict

BLOCKED = "This client is blocked for now. Retry after the time in Retry-After."


class RateLimited(RequestError):
    """429: a limit is spent (or the client is blocked for a while); ``Retry-After`` says when to retry."""

    status = 429
    code = "throttled"
    message = "Too many requests: a rate limit is reached. Retry after the time in Retry-After."

    def __init__(
        self, retry_after_seconds: int, headers: tuple[tuple[str, str], ...] = (), message: str | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after_seconds)
        self.headers = (("retry-after", str(self.retry_after)), *headers)

    @classmethod
    def of(cls, verdict: Verdict) -> RateLimited:
        seconds = math.ceil(verdict.retry_after / MICROS)
        if verdict.blocked:
            return cls(seconds, message=BLOCKED)
        return cls(seconds, policy_headers(verdict))


class TooManyInFlight(RateLimited):
    message = "Too many requests in flight for this client: wait for one to finish, then retry."


class AddressRefused(Forbidden):
    message = "Requests from this network address are not permitted."
