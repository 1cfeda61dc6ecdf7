"""Alerts sent to a webhook as JSON, the body signed with HMAC-SHA256 so the receiver can trust it.

Headers: ``X-Phigate-Timestamp`` (epoch seconds) and ``X-Phigate-Signature:
sha256=<hex>`` over ``<timestamp>.<body>``; a receiver recomputes it with the
shared secret and refuses old timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import time

import aiohttp
import orjson

from phigate.monitor.detectors import Alert


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class Webhook:
    def __init__(
        self, url: str, secret: bytes, ssl_context: ssl.SSLContext | None = None, timeout_seconds: float = 5.0
    ):
        self.url = url
        self.secret = secret
        self.ssl_context = ssl_context
        self.timeout = timeout_seconds

    async def __call__(self, alert: Alert, count: int) -> None:
        body = orjson.dumps(
            {
                "detector": alert.detector,
                "severity": alert.severity.value,
                "subject": alert.subject,
                "client_id": alert.client_id,
                "vendor_id": alert.vendor_id,
                "explanation": alert.explanation,
                "at": alert.at,
                "seen": count,
            }
        )
        stamp = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            "x-phigate-timestamp": stamp,
            "x-phigate-signature": signature(self.secret, stamp, body),
        }
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(self.url, data=body, headers=headers, ssl=self.ssl_context or True) as reply,
        ):
            reply.raise_for_status()
