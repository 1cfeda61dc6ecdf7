"""Alerts by email: an SMTP server (aiosmtpd) on 127.0.0.1 that requires STARTTLS with the dev PKI
receives the alert; plain SMTP works in dev only; a honey-token read through the gateway is mailed."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from fixtures.gateway_stack import running_stack
from phigate.adapters.pki import DevPki, ensure_dev_pki
from phigate.cli.token import client_assertion
from phigate.errors import ConfigError
from phigate.monitor.detectors import Alert, Severity
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.pipeline.audit import email_alerts
from phigate.settings.audit import AlertEmailSettings


class Inbox:
    def __init__(self) -> None:
        self.mail: list[tuple[str, list[str], Message]] = []
        self.arrived = asyncio.Event()

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.mail.append((str(envelope.mail_from), list(envelope.rcpt_tos), message_from_bytes(content)))
        self.arrived.set()
        return "250 OK"

    async def first(self) -> tuple[str, list[str], Message]:
        async with asyncio.timeout(10):
            await self.arrived.wait()
        return self.mail[0]


@pytest.fixture
def pki(tmp_path: Path) -> DevPki:
    return ensure_dev_pki(tmp_path / "pki")


async def smtp_server(inbox: Inbox, tls: ssl.SSLContext | None) -> tuple[asyncio.Server, int]:
    loop = asyncio.get_running_loop()
    factory = lambda: SMTP(inbox, tls_context=tls, require_starttls=tls is not None, hostname="mail.test")  # noqa: E731
    server = await loop.create_server(factory, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.fixture
async def mail_tls(pki: DevPki) -> AsyncIterator[tuple[Inbox, int]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    inbox = Inbox()
    server, port = await smtp_server(inbox, context)
    async with server:
        yield inbox, port


ALERT = Alert(
    "honey-token", Severity.critical, "app-1", "a canary patient record ... was read", 1.0, "app-1", "acme"
)


async def test_an_alert_is_mailed_over_starttls(mail_tls: tuple[Inbox, int], pki: DevPki) -> None:
    inbox, port = mail_tls
    settings = AlertEmailSettings(
        host="localhost",
        port=port,
        sender="phigate@example.org",
        recipients=("soc@example.org", "dpo@example.org"),
        ca_file=pki.ca_cert,
    )
    await email_alerts(settings, dev=False)(ALERT, 3)
    sender, recipients, message = await inbox.first()
    assert sender == "phigate@example.org" and recipients == ["soc@example.org", "dpo@example.org"]
    assert message["Subject"] == "[phigate] critical alert: honey-token (app-1)"
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert b"Seen: 3 time(s)" in body and b"a canary patient record" in body


async def test_the_mail_server_certificate_is_checked(mail_tls: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, port = mail_tls
    other = ensure_dev_pki(tmp_path / "other")
    settings = AlertEmailSettings(
        host="localhost",
        port=port,
        sender="p@example.org",
        recipients=("soc@example.org",),
        ca_file=other.ca_cert,
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        await email_alerts(settings, dev=False)(ALERT, 1)
    assert inbox.mail == []


async def test_plain_smtp_only_in_dev() -> None:
    inbox = Inbox()
    server, port = await smtp_server(inbox, None)
    settings = AlertEmailSettings(
        host="127.0.0.1", port=port, sender="p@example.org", recipients=("soc@example.org",), security="none"
    )
    with pytest.raises(ConfigError, match="refused outside environment: dev"):
        email_alerts(settings, dev=False)
    async with server:
        await email_alerts(settings, dev=True)(ALERT, 1)
        _, _, message = await inbox.first()
    assert message["Subject"].startswith("[phigate] critical alert")


async def test_a_honey_token_read_through_the_gateway_is_mailed(tmp_path: Path) -> None:
    inbox = Inbox()
    server, port = await smtp_server(inbox, None)
    audit: dict[str, Any] = {
        "flush_interval_seconds": 0.05,
        "detectors": {"honey_patients": ["pat-canary"]},
        "email": {
            "host": "127.0.0.1",
            "port": port,
            "sender": "gw@example.org",
            "recipients": ["soc@example.org"],
            "security": "none",
        },
    }
    async with server, running_stack(tmp_path, audit=audit, environment="dev") as stack:
        creds = await stack.register("sneaky-app", "system/Patient.rs")
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=stack.pki.ca_cert)) as client:
            form = {
                "grant_type": "client_credentials",
                "scope": creds["scopes"],
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(creds),
            }
            bearer = (await client.post(creds["token_endpoint"], data=form)).json()["access_token"]
            reply = await client.get(
                f"{stack.public}/fhir/Patient/pat-canary", headers={"authorization": f"Bearer {bearer}"}
            )
        assert reply.status_code == 200
        _, recipients, message = await inbox.first()
    assert recipients == ["soc@example.org"]
    assert message["Subject"] == "[phigate] critical alert: honey-token (sneaky-app)"
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes) and b"Canary" not in body  # no patient data in the mail
