"""The audit micro case: one audited data read, its event taken all the way into the store.

The gateway's ``GET /fhir/Patient/1`` of the ``gateway-token`` row, in-process: the reply
(``bench/fixtures/patient.json``, streamed as the upstream client streams it) passes through the
node's :class:`~phigate.pipeline.audit.ExchangeAudit` exactly as ``phigate serve`` wires it
(``Evidence`` on the bench gateway's generated config, a SQLite store in a temp dir): the body is
hashed and scanned for patients, the event built, chained and spooled (one ``write()``) before
the last chunk, the detectors and metrics see it, and the node's writer task drains the spool
into the store in batches on the same event loop. The baseline streams the same reply on the
same loop without the audit hook: what ``audit.enabled: false`` leaves.

Each call runs the loop until its read is done, so the writer's batches (every 500 events or
0.5 s) fall into the measured calls they belong to. The writer's SQLite work runs in aiosqlite's
thread: a wall clock counts it only where that thread shares the core (``taskset -c 0``).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
from gateway import gateway_config
from micro import Prepared

from phigate.asgi.services import Services
from phigate.exchange import Exchange, Identity, Reply
from phigate.fhir.parser import parse_request
from phigate.monitor.metrics import GatewayMetrics
from phigate.pipeline.audit import Evidence, ExchangeAudit
from phigate.policy.grants import Grant
from phigate.policy.scopes import ScopeSet
from phigate.settings import load_settings
from phigate.types import ClientId, RequestId, VendorId

PATIENT_JSON = Path(__file__).resolve().parent / "fixtures" / "patient.json"
CLIENT, VENDOR = ClientId("bench-lab-0001"), VendorId("bench-lab")
# The volume detector alerts once a minute at this rate; an alert is no per-request work, and its
# log line would land in the benchmark's output, so its floor is out of reach (it still counts).
DETECTORS = {"volume_min_per_minute": 1_000_000_000}


class StreamedReply:
    """An upstream reply body as the proxy hands it on: one chunk per read from the socket."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def iter_body(self) -> AsyncIterator[bytes]:
        yield self.body

    async def read(self, max_bytes: int) -> bytes:
        return self.body

    async def close(self) -> None:
        return None


class AuditedReads:
    """An evidence plane running on a loop of its own, and the exchange of one token read.

    Nothing is opened until the first read (the case's check, before timing), so building the
    case costs nothing; :meth:`close` stops the plane, and the temp dir goes at exit at the latest.
    """

    def __init__(self) -> None:
        self.body = PATIENT_JSON.read_bytes()
        grant = Grant(ScopeSet.parse("system/Patient.r"), CLIENT)
        self.identity = Identity(
            grant, VENDOR, "bench-token-id", "http://127.0.0.1:9", int(time.time()) + 3600
        )
        self.count = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    def run(self, audited: bool) -> int:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            self.loop.run_until_complete(self._open())
        return self.loop.run_until_complete(self.serve(audited))

    async def _open(self) -> None:
        workdir = Path(tempfile.mkdtemp(prefix="phigate-bench-audit-"))
        weakref.finalize(self, shutil.rmtree, workdir, ignore_errors=True)
        config = gateway_config(workdir, "http://127.0.0.1:9", 9, 9, tls=False,
                                settings={"audit": {"detectors": DETECTORS}})  # fmt: skip
        resolved = load_settings(config, environ={})
        self.services = await Services.open(resolved)
        s = self.services
        stores = (s.db, s.keyring, s.clients, s.shared.revocations)
        self.evidence = Evidence(resolved.settings, "bench-node", GatewayMetrics(), *stores)
        await self.evidence.start()
        self.audit = ExchangeAudit(self.evidence.trail, resolved.settings.audit.inspect_max_bytes)

    def exchange(self) -> Exchange:
        """The exchange as the stages leave it before the reply is sent (facts of a granted read)."""
        self.count += 1
        ex = Exchange(
            request_id=RequestId(f"{self.count:032x}"), method="GET", path="/fhir/Patient/1",
            raw_path=b"/fhir/Patient/1", query="", headers=[("host", "127.0.0.1"), ("accept", "*/*")],
            client_ip="127.0.0.1", scheme="http", started=time.monotonic(), read_body=_no_body,
            route_base="/fhir",
        )  # fmt: skip
        ex.fhir = parse_request("GET", "/Patient/1", "")
        ex.identity = self.identity
        ex.upstream_target = "http://127.0.0.1:9/fhir"
        ex.facts.update(interaction="read", resource_type="Patient", client_id=CLIENT, vendor_id=VENDOR,
                        vendor_standing="approved", access="The token grants read of Patient.")  # fmt: skip
        headers = [("content-type", "application/fhir+json"), ("content-length", str(len(self.body)))]
        ex.reply = Reply(200, headers, StreamedReply(self.body))
        return ex

    async def serve(self, audited: bool) -> int:
        """Stream the reply as ``send_reply`` does; the bytes sent."""
        ex = self.exchange()
        if audited:
            self.audit(ex)
        assert ex.reply is not None and not isinstance(ex.reply.body, bytes)
        sent = 0
        try:
            async for chunk in ex.reply.body.iter_body():
                sent += len(chunk)
        finally:
            await ex.reply.body.close()
        return sent

    def last_spooled(self) -> dict[str, object]:
        """The newest event in the node's spool."""
        segments = self.evidence.trail.spool.segments()
        line = segments[-1].read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        event: dict[str, object] = orjson.loads(line)["event"]
        return event

    def close(self) -> None:
        if self.loop is None:
            return
        self.loop.run_until_complete(self.evidence.stop())
        self.loop.run_until_complete(self.services.close())
        self.loop.close()
        self.loop = None


async def _no_body(limit: int) -> bytes:
    return b""


def setup() -> Prepared:
    reads = AuditedReads()
    return Prepared(reads, f"{len(reads.body) / 1024:.1f} KB JSON, SQLite store", close=reads.close)


def audited_read(reads: AuditedReads) -> AuditedReads:
    reads.run(audited=True)
    return reads


def plain_read(reads: AuditedReads) -> AuditedReads:
    reads.run(audited=False)
    return reads


def spooled_with_patient(result: object) -> str | None:
    """The measured read must leave its event in the spool, naming the patient it disclosed."""
    if not isinstance(result, AuditedReads):
        return f"unexpected result {type(result).__name__}"
    event = result.last_spooled()
    if event.get("patients") != ["1"] or event.get("status") != 200:
        return "the read's audit event was not spooled with its patient"
    return None
