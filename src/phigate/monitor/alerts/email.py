"""Alerts sent by email (SMTP), with STARTTLS or implicit TLS; plain SMTP only in dev.

The message names the detector, severity, client and the explanation (which
holds no patient data). The standard library's SMTP client blocks, so each
send runs in a worker thread off the desk's task; the request path never waits.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from typing import Literal

from phigate.monitor.detectors import Alert

Security = Literal["starttls", "tls", "none"]


def alert_message(alert: Alert, count: int, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = f"[phigate] {alert.severity.value} alert: {alert.detector} ({alert.subject})"
    lines = [
        f"Detector: {alert.detector}",
        f"Severity: {alert.severity.value}",
        f"Client: {alert.client_id or '-'}",
        f"Vendor: {alert.vendor_id or '-'}",
        f"Seen: {count} time(s)",
        "",
        alert.explanation,
        "",
        "Details: phigate audit alerts; the trail: phigate audit search --kind alert",
    ]
    message.set_content("\n".join(lines))
    return message


class EmailAlerts:
    """An alert sink; ``password`` was read once at start-up (never logged)."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: tuple[str, ...],
        *,
        security: Security = "starttls",
        context: ssl.SSLContext | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.host, self.port = host, port
        self.sender, self.recipients = sender, recipients
        self.security = security
        self.context = context or ssl.create_default_context()
        self.username, self.password = username, password
        self.timeout = timeout_seconds

    async def __call__(self, alert: Alert, count: int) -> None:
        message = alert_message(alert, count, self.sender, self.recipients)
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        if self.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.context
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.security == "starttls":
                client.starttls(context=self.context)
            if self.username is not None and self.password is not None:
                client.login(self.username, self.password)
            client.send_message(message)
