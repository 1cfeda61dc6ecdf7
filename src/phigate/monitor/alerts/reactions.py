"""Reactions to alerts: tighten the client's rate, suspend the client, revoke its tokens, on every
node. Each is audited and reversible (a tightened rate lifts itself after ``tighten_seconds``; a
suspended client is reinstated with ``phigate audit reinstate``; revoked tokens are simply
replaced by new ones once the client is active again)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from phigate.monitor.detectors import Alert, Observed
from phigate.settings.audit import ReactionSettings
from phigate.settings.traffic import Rate

Tighten = Callable[[str, Rate, float], Awaitable[None]]  # client id, rate, seconds

_TOKENS_PER_CLIENT = 256


class RecentTokens:
    """The token ids (jti, expiry) each client used lately, learnt from its audit events."""

    def __init__(self) -> None:
        self._by_client: dict[str, OrderedDict[str, float]] = {}

    def observe(self, event: Observed) -> None:
        token_id, expires = event.rules.get("token_id"), event.rules.get("token_expires")
        if event.client_id is None or not isinstance(token_id, str) or not isinstance(expires, int | float):
            return
        tokens = self._by_client.setdefault(event.client_id, OrderedDict())
        tokens[token_id] = float(expires)
        tokens.move_to_end(token_id)
        while len(tokens) > _TOKENS_PER_CLIENT:
            tokens.popitem(last=False)

    def of(self, client_id: str) -> list[tuple[str, float]]:
        return list(self._by_client.get(client_id, {}).items())


class Reactions:
    """An alert sink: for the detectors named in ``audit.reactions``, act on the alert's client."""

    def __init__(
        self,
        settings: ReactionSettings,
        tokens: RecentTokens,
        suspend: Callable[[str], Awaitable[None]],
        revoke: Callable[[str, float], Awaitable[None]],
        record: Callable[[str, Alert, dict[str, Any]], None],  # audits a reaction
        tighten: Tighten | None = None,  # None: no traffic control point on this node
    ) -> None:
        self.settings = settings
        self.tighten = tighten
        self.tokens = tokens
        self.suspend = suspend
        self.revoke = revoke
        self.record = record

    async def __call__(self, alert: Alert, _count: int) -> None:
        client = alert.client_id
        if client is None:
            return
        if alert.detector in self.settings.tighten_rate and self.tighten is not None:
            rate, seconds = self.settings.tightened_rate, self.settings.tighten_seconds
            await self.tighten(client, rate, seconds)
            self.record("client.rate_tightened", alert, {"rate": rate.text, "seconds": seconds})
        if alert.detector in self.settings.revoke_tokens:
            revoked = self.tokens.of(client)
            for token_id, expires in revoked:
                await self.revoke(token_id, expires)
            self.record("client.tokens_revoked", alert, {"tokens": len(revoked)})
        if alert.detector in self.settings.suspend_client:
            await self.suspend(client)
            self.record("client.suspended", alert, {})
