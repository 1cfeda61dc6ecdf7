"""The port every limit store implements: in-process (one node) or Redis (every node).

Contract, checked by ``tests/contract/test_rate_limit_contract.py`` against both:

- :meth:`LimitStore.spend` answers one :class:`Verdict` per check, in order.
  Each bucket is decided on its own and atomically (two nodes never both spend
  its last request); a request refused by one bucket may still have spent from
  the others it passed, so refused traffic is counted against its sender. A
  subject blocked by the control point refuses every ``controlled`` check with
  ``blocked`` set, and a tightened subject uses the stricter bucket.
- :meth:`LimitStore.take_slot` / :meth:`release_slot`: at most ``limit``
  slots of one key are held at once across every node; a slot not released
  (its node died) frees itself after ``lease`` seconds.
- :meth:`LimitStore.control` sets or clears a subject's block or tightening;
  every node sees it on its next request; :meth:`read_control` reads it.
- Failure: every call either answers or raises
  :class:`phigate.errors.SharedStateUnavailable` within the store's timeout,
  and works again by itself once the service is back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from phigate.guard.limits.subjects import BucketCheck, Control, Verdict


class LimitStore(Protocol):
    @property
    def label(self) -> str: ...

    async def spend(self, checks: Sequence[BucketCheck]) -> list[Verdict]: ...

    async def take_slot(self, key: str, member: str, limit: int, lease: float) -> bool: ...

    async def release_slot(self, key: str, member: str) -> None: ...

    async def control(self, subject: str, control: Control | None) -> None:
        """Replace the subject's control (``None`` lifts it); times in ``control`` are epoch microseconds."""
        ...

    async def read_control(self, subject: str) -> tuple[Control | None, int]:
        """The subject's control now in force (or None), and the store's clock (epoch microseconds)."""
        ...

    async def now(self) -> int:
        """The store's clock in epoch microseconds (Redis: the server's, shared by every node)."""
        ...
