"""A streamed reply's audit tee: the event is spooled before the last byte, then the exchange is let go.

The tee's finishing callback refers to the exchange, whose reply refers to the tee: kept after
the event is spooled, that cycle would leave every audited exchange (request, token identity,
upstream response) to the garbage collector, which then has to run far more often.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import orjson
import pytest

from phigate.adapters.spool import Spool
from phigate.adapters.sql import open_database
from phigate.adapters.sql.audit import AuditWriter, SqlAuditStore
from phigate.exchange import Exchange, Reply
from phigate.fhir.parser import parse_request
from phigate.pipeline.audit import AuditTrail, ExchangeAudit

BODY = orjson.dumps({"resourceType": "Patient", "id": "pat-7", "name": [{"family": "Doe"}]})


class Chunks:
    """An upstream body streamed in two chunks, noting what the spool held when each was asked for."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.spooled_before: list[int] = []

    async def iter_body(self) -> AsyncIterator[bytes]:
        for chunk in (BODY[:20], BODY[20:]):
            self.spooled_before.append(len(spooled(self.spool)))
            yield chunk

    async def read(self, max_bytes: int) -> bytes:
        return BODY

    async def close(self) -> None:
        return None


def spooled(spool: Spool) -> list[dict[str, object]]:
    lines = b"".join(s.read_bytes() for s in spool.segments()).splitlines()
    return [orjson.loads(line)["event"] for line in lines]


@pytest.fixture
async def trail(tmp_path: Path) -> AsyncIterator[AuditTrail]:
    db = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}")
    spool = Spool(tmp_path / "spool", fsync="never")
    spool.open()
    try:
        yield AuditTrail("node-1", spool, AuditWriter(SqlAuditStore(db), spool, "node-1", lambda: None))
    finally:
        await spool.close()
        await db.close()


@pytest.fixture
def no_collector() -> Iterator[None]:
    """Only reference counting frees objects while the test runs."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def patient_read(make_exchange: Callable[..., Exchange], body: Chunks) -> Exchange:
    ex = make_exchange(path="/fhir/Patient/pat-7")
    ex.fhir = parse_request("GET", "/Patient/pat-7", "")
    ex.facts.update(interaction="read", resource_type="Patient")
    ex.reply = Reply(200, [("content-type", "application/fhir+json")], body)
    return ex


async def stream(ex: Exchange) -> bytes:
    assert ex.reply is not None and not isinstance(ex.reply.body, bytes)
    received = b""
    try:
        async for chunk in ex.reply.body.iter_body():
            received += chunk
    finally:
        await ex.reply.body.close()
    return received


@pytest.mark.usefixtures("no_collector")
async def test_a_streamed_exchange_is_freed_once_its_event_is_spooled(
    trail: AuditTrail, make_exchange: Callable[..., Exchange]
) -> None:
    upstream = Chunks(trail.spool)
    ex = patient_read(make_exchange, upstream)
    ExchangeAudit(trail, 65536)(ex)

    assert await stream(ex) == BODY
    [event] = spooled(trail.spool)
    assert upstream.spooled_before == [0, 0]  # the second (last) chunk was held back until ...
    assert event["patients"] == ["pat-7"] and event["complete"] is True  # ... this was on disk
    reply_body = weakref.ref(upstream)  # held by the exchange's reply only, once ours is dropped
    del ex, upstream
    assert reply_body() is None  # freed by reference counting: no cycle is left for the collector


@pytest.mark.usefixtures("no_collector")
async def test_a_reply_the_caller_abandoned_is_audited_and_freed_too(
    trail: AuditTrail, make_exchange: Callable[..., Exchange]
) -> None:
    upstream = Chunks(trail.spool)
    ex = patient_read(make_exchange, upstream)
    ExchangeAudit(trail, 65536)(ex)
    assert ex.reply is not None and not isinstance(ex.reply.body, bytes)

    await ex.reply.body.close()  # the caller went away before the first byte
    await ex.reply.body.close()  # closing twice records one event

    [event] = spooled(trail.spool)
    assert event["complete"] is False and event["bytes_sent"] == 0
    reply_body = weakref.ref(upstream)
    del ex, upstream
    assert reply_body() is None
