"""Alerts: deduplicated, stored, logged, sent to a webhook, and answered by reactions."""

from __future__ import annotations

from phigate.monitor.alerts.desk import AlertDesk, AlertSink
from phigate.monitor.alerts.reactions import Reactions, RecentTokens
from phigate.monitor.alerts.webhook import Webhook, signature

__all__ = ["AlertDesk", "AlertSink", "Reactions", "RecentTokens", "Webhook", "signature"]
