"""The posture gate: each node's view of every vendor's standing, at most ``cache_seconds`` old.

Why a short cache over the shared database rather than a Redis notification:
the registry (evidence, agreements, incidents, suspensions) lives in the
database every node already reads, and is changed from the CLI or the admin
API, which need not reach Redis at all. Reading it again after
``cache_seconds`` (2 s by default, at most 5) bounds how long any node can act
on an old standing, whatever wrote the change and whichever node sees it, with
one query per vendor per period, and no missed-message failure mode. The
posture itself is evaluated on *every* request from the cached dossier and the
current time, so an expiry takes effect on the second.

A registry that cannot be read fails closed: the error reaches the caller
(the request is refused), and nothing stale older than the cache time is used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime

from phigate.errors import Forbidden
from phigate.settings.vendors import VendorSettings
from phigate.types import VendorId
from phigate.vendors.dossier import Dossier, DossierSource
from phigate.vendors.posture import Posture, evaluate

MAX_CACHED = 10_000
# Told of each change of a vendor's standing (or of its reasons) this node sees: (vendor, previous, new).
# Called on the request path: it must not raise or block (the node spools an audit event).
PostureObserver = Callable[[VendorId, Posture | None, Posture], None]


class VendorRefused(Forbidden):
    """The caller's vendor is not in good standing; the message gives the reasons (safe: dates and kinds)."""

    message = "The vendor's access is suspended."


class PostureGate:
    """Cached dossiers and their posture. ``clock`` gives epoch seconds, ``monotonic`` ages the cache."""

    def __init__(
        self,
        source: DossierSource,
        rules: VendorSettings,
        *,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        on_change: PostureObserver | None = None,
    ) -> None:
        self.source = source
        self.rules = rules
        self.clock = clock
        self.monotonic = monotonic
        self.on_change = on_change
        self._cache: dict[VendorId, tuple[float, Dossier]] = {}
        self._loading: dict[VendorId, asyncio.Future[Dossier]] = {}
        self._postures: dict[VendorId, tuple[Dossier, date, Posture]] = {}

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def dossier(self, vendor_id: VendorId) -> Dossier:
        hit = self._cache.get(vendor_id)
        if hit is not None and self.monotonic() - hit[0] < self.rules.cache_seconds:
            return hit[1]
        pending = self._loading.get(vendor_id)
        if pending is not None:  # one load per vendor at a time, however many requests wait for it
            return await asyncio.shield(pending)
        future: asyncio.Future[Dossier] = asyncio.get_running_loop().create_future()
        self._loading[vendor_id] = future
        try:
            loaded = await self.source.dossier(vendor_id)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: waiters re-raise it, nobody logs "never retrieved"
            raise
        finally:
            self._loading.pop(vendor_id, None)
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[vendor_id] = (self.monotonic(), loaded)
        future.set_result(loaded)
        return loaded

    async def posture(self, vendor_id: VendorId) -> tuple[Posture, Dossier]:
        dossier = await self.dossier(vendor_id)
        now = self.now()
        # Every rule compares dates, so one evaluation per dossier and day serves the hot path.
        hit = self._postures.get(vendor_id)
        if hit is not None and hit[0] is dossier and hit[1] == now.date():
            return hit[2], dossier
        posture = evaluate(dossier, self.rules, now)
        if len(self._postures) >= MAX_CACHED:
            self._postures.clear()
        self._postures[vendor_id] = (dossier, now.date(), posture)
        previous = hit[2] if hit is not None else None
        if self.on_change is not None and _changed(previous, posture):
            self.on_change(vendor_id, previous, posture)
        return posture, dossier

    async def refusal(self, vendor_id: VendorId) -> str | None:
        """Why the vendor's clients get no token now (suspended or expired), or None."""
        posture, _ = await self.posture(vendor_id)
        return refusal_message(posture) if posture.refuses_all else None

    def forget(self, vendor_id: VendorId | None = None) -> None:
        """Drop cached dossiers (all, or one vendor's): the next request reads the registry."""
        if vendor_id is None:
            self._cache.clear()
        else:
            self._cache.pop(vendor_id, None)


def _changed(previous: Posture | None, posture: Posture) -> bool:
    if previous is None:
        return True
    return (previous.standing, previous.reasons) != (posture.standing, posture.reasons)


def refusal_message(posture: Posture) -> str:
    return "; ".join(posture.reasons) or VendorRefused.message
