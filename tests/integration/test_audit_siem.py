"""Forwarding the stored trail to a SIEM: RFC 5424 over TLS with octet counting, JSON lines over
plain TCP in dev, resuming from the stored cursor, and giving up after a bounded number of retries.

The SIEM is a real TLS listener on 127.0.0.1 (dev PKI certificates) that parses every frame.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from phigate.adapters.pki import ensure_dev_pki
from phigate.adapters.siem import SiemForwarder, SiemTarget, SiemUnavailable
from phigate.adapters.sql import Database, open_database
from phigate.adapters.sql.audit import SqlAuditStore
from phigate.audit.chain import Chain
from phigate.audit.events import AuditEvent, Kind
from phigate.errors import ConfigError
from phigate.settings.audit import SiemSettings

# RFC 5424: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD SP MSG
SYSLOG = re.compile(
    rb"^<(?P<pri>\d{1,3})>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (?P<host>[!-~]{1,255}) "
    rb"(?P<app>[!-~]{1,48}) - (?P<msgid>[!-~]{1,32}) "
    rb'\[phigate@32473 node="(?P<node>[^"]+)" seq="(?P<seq>\d+)" hash="(?P<hash>[0-9a-f]{64})"\] '
    rb"(?P<msg>\{.*\})$",
    re.DOTALL,
)


class Siem:
    """A syslog receiver: octet-counted frames (RFC 6587 3.4.1) or JSON lines, parsed as they come."""

    def __init__(self, framing: str) -> None:
        self.framing = framing
        self.messages: list[bytes] = []
        self.connections = 0
        self.arrived = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                if self.framing == "octet":
                    length = await reader.readuntil(b" ")
                    assert length[:-1].isdigit(), length
                    self.messages.append(await reader.readexactly(int(length[:-1])))
                else:
                    self.messages.append((await reader.readuntil(b"\n"))[:-1])
                self.arrived.set()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.messages) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    database = await open_database("sqlite+aiosqlite://")
    await database.migrate()
    yield database
    await database.close()


async def stored(store: SqlAuditStore, chain: Chain, count: int, start: float = 1_700_000_000.0) -> None:
    events = []
    for i in range(count):
        outcome = "ok" if i % 3 else "forbidden"
        event = AuditEvent(
            Kind.exchange,
            "read",
            start + chain.seq + i,
            client_id="app-1",
            status=200,
            outcome=outcome,
            resource_type="Patient",
            patients=(f"pat-{i}",),
        )
        events.append(chain.append(event.record()))
    await store.store(events)


async def serve(siem: Siem, tls: ssl.SSLContext | None) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(siem.handle, "127.0.0.1", 0, ssl=tls)
    return server, server.sockets[0].getsockname()[1]


def seqs(messages: list[bytes]) -> list[tuple[str, int]]:
    found = []
    for message in messages:
        match = SYSLOG.match(message)
        assert match is not None, message[:200]
        found.append((match["node"].decode(), int(match["seq"])))
    return found


async def test_syslog_over_tls_in_order_then_resumes_from_the_cursor_after_a_restart(
    db: Database, tmp_path: Path
) -> None:
    pki = ensure_dev_pki(tmp_path / "pki")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(pki.server_cert, pki.server_key)
    siem = Siem("octet")
    server, port = await serve(siem, server_tls)
    store = SqlAuditStore(db)
    a, b = Chain("node-a"), Chain("node-b")
    await stored(store, a, 7)
    await stored(store, b, 5)
    settings = SiemSettings(url=f"tls://localhost:{port}", ca_file=pki.ca_cert, hostname="gw-1", batch_size=4)
    async with server:
        forwarder = SiemForwarder(store, SiemTarget.of(settings, dev=False), settings)
        assert await forwarder.forward() == 12
        await forwarder.close()
        await siem.wait_for(12)
        first = seqs(siem.messages)
        for node, count in (("node-a", 7), ("node-b", 5)):
            assert [s for n, s in first if n == node] == list(range(1, count + 1))  # each chain in order
        match = SYSLOG.match(siem.messages[0])
        assert match is not None
        assert match["host"] == b"gw-1" and match["app"] == b"phigate" and match["msgid"] == b"exchange"
        pris = {int(m["pri"]) for m in map(SYSLOG.match, siem.messages) if m}
        assert pris == {13 * 8 + 6, 13 * 8 + 5}  # log audit: informational, and notice for a refusal
        event = orjson.loads(match["msg"])
        assert event["client_id"] == "app-1" and event["kind"] == "exchange"

        # A restart: a new forwarder sends only what was stored since, from the cursor in the store.
        await stored(store, a, 3)
        restarted = SiemForwarder(store, SiemTarget.of(settings, dev=False), settings)
        assert await restarted.forward() == 3
        assert await restarted.forward() == 0
        await restarted.close()
        await siem.wait_for(15)
    assert seqs(siem.messages[12:]) == [("node-a", 8), ("node-a", 9), ("node-a", 10)]
    assert await store.cursor("siem") == {"node-a": 10, "node-b": 5}


async def test_the_certificate_is_checked(db: Database, tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path / "pki")
    other = ensure_dev_pki(tmp_path / "other")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(pki.server_cert, pki.server_key)
    siem = Siem("octet")
    server, port = await serve(siem, server_tls)
    store = SqlAuditStore(db)
    await stored(store, Chain("node-a"), 2)
    settings = SiemSettings(
        url=f"tls://localhost:{port}", ca_file=other.ca_cert, retries=1, retry_seconds=0.01
    )
    async with server:
        forwarder = SiemForwarder(store, SiemTarget.of(settings, dev=False), settings)
        with pytest.raises(SiemUnavailable):
            await forwarder.forward()
    assert siem.messages == [] and await store.cursor("siem") == {}


async def test_json_lines_over_plain_tcp_in_dev_only(db: Database) -> None:
    siem = Siem("lines")
    server, port = await serve(siem, None)
    store = SqlAuditStore(db)
    await stored(store, Chain("node-a"), 3)
    settings = SiemSettings(url=f"tcp://127.0.0.1:{port}", format="json")
    with pytest.raises(ConfigError, match="refused outside environment: dev"):
        SiemTarget.of(settings, dev=False)
    async with server:
        forwarder = SiemForwarder(store, SiemTarget.of(settings, dev=True), settings)
        assert await forwarder.forward() == 3
        await forwarder.close()
        await siem.wait_for(3)
    lines = [orjson.loads(m) for m in siem.messages]
    assert [(x["node"], x["seq"]) for x in lines] == [("node-a", 1), ("node-a", 2), ("node-a", 3)]
    assert all(x["event"]["kind"] == "exchange" for x in lines)


async def test_a_siem_that_is_down_is_retried_a_bounded_number_of_times(db: Database) -> None:
    store = SqlAuditStore(db)
    await stored(store, Chain("node-a"), 2)
    settings = SiemSettings(url=f"tcp://127.0.0.1:{closed_port()}", retries=3, retry_seconds=0.5)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    forwarder = SiemForwarder(store, SiemTarget.of(settings, dev=True), settings, sleep=sleep)
    with pytest.raises(SiemUnavailable, match="after 4 attempts"):
        await forwarder.forward()
    assert waits == [0.5, 1.0, 2.0]  # back-off doubles; then it gives up
    assert await store.cursor("siem") == {}  # nothing counted as sent: the next run starts over


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
