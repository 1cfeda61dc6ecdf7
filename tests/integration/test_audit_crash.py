"""``kill -9`` of a gateway under load, then a restart: exactly one audit event per response received.

A real ``phigate serve`` process (SQLite store, its own spool) in front of the demo
EHR; eight clients read patient data concurrently; the process is killed with
SIGKILL mid-load and started again. The restarted node replays its spool; after a
graceful stop, every response a client received has exactly one event, and
``phigate audit verify`` passes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import ssl
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml

from fixtures.gateway_stack import free_port
from phigate.adapters.kms import generate_master_key
from phigate.adapters.pki import DevPki, ensure_dev_pki
from phigate.adapters.sql import open_database
from phigate.adapters.sql.audit import AuditQuery, SqlAuditStore
from phigate.asgi.server import Listener, RunningServers
from phigate.cli.client_registration import register_client
from phigate.cli.store import migrated_database
from phigate.cli.token import client_assertion
from phigate.cli.vendor_registry import register_vendor
from phigate.demo.ehr import create_ehr_app
from phigate.demo.store import ResourceStore
from phigate.demo.synthetic import generate
from phigate.guard.resource_validation import validate_resource
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.settings import ListenerSettings, TlsSettings, load_settings
from phigate.types import VendorId

PHIGATE = str(Path(sys.executable).parent / "phigate")
WORKERS = 8
KILL_AFTER = 120  # responses received before the kill


def write_config(directory: Path, pki: DevPki, ehr_url: str, port: int) -> Path:
    key = directory / "master.key"
    key.write_text(generate_master_key())
    key.chmod(0o600)
    tls = {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
    raw: dict[str, Any] = {
        "node_id": "crash-node",
        "listeners": {"public": {"port": port, "tls": tls}, "admin": {"port": free_port(), "tls": tls},
                      "drain_seconds": 1},
        "upstreams": {"ehr": {"targets": [{"url": ehr_url}], "ca_file": str(pki.ca_cert)}},
        "routes": [{"base": "/fhir", "upstream": "ehr"}],
        "storage": {"url": f"sqlite+aiosqlite:///{directory}/gateway.db"},
        "master_key": {"file": str(key)},
        "oauth": {"issuer": f"https://127.0.0.1:{port}"},
        "audit": {"spool_dir": str(directory / "spool"), "flush_interval_seconds": 0.05,
                  "checkpoint_interval_seconds": 0.2, "batch_size": 50},
        "vendors": {"unmanaged_vendors": "allow"},  # the crash vendor has no risk record
    }  # fmt: skip
    config = directory / "phigate.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config


async def start(config: Path, base: str, ca: ssl.SSLContext, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(  # noqa: ASYNC220 - a server process outlives this call
            [PHIGATE, "serve", "--config", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    async with httpx.AsyncClient(verify=ca, timeout=2) as client:
        for _ in range(150):
            try:
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError("the gateway did not start: " + log.read_text()[-2000:])  # noqa: ASYNC240


async def load(base: str, ca: ssl.SSLContext, token: str, received: list[str], stop: asyncio.Event) -> None:
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(verify=ca, timeout=5, limits=httpx.Limits(max_connections=1)) as client:
        for i in range(10_000):
            if stop.is_set():
                return
            try:
                reply = await client.get(f"{base}/fhir/Patient/pat-{i % 90 + 1:04d}", headers=headers)
            except httpx.TransportError:
                return  # the node is gone
            received.append(reply.headers["x-request-id"])
            if len(received) >= KILL_AFTER:
                stop.set()


async def test_kill_9_under_load_then_restart_keeps_one_event_per_response(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path / "pki")
    ca = ssl.create_default_context(cafile=pki.ca_cert)
    ehr_port, port = free_port(), free_port()
    ehr_url = f"https://127.0.0.1:{ehr_port}/fhir"
    config = write_config(tmp_path, pki, ehr_url, port)
    resolved = load_settings(config)
    async with migrated_database(resolved) as db:
        await register_vendor(db, "Crash Vendor", "crash-vendor")
        await register_client(db, resolved.settings, VendorId("crash-vendor"), "loader", "system/Patient.rs",
                              "ES384", tmp_path / "loader.json", client_id="loader")  # fmt: skip
    creds = json.loads((tmp_path / "loader.json").read_text())
    base, log = f"https://127.0.0.1:{port}", tmp_path / "gateway.log"
    server_tls = TlsSettings(cert_file=pki.server_cert, key_file=pki.server_key)
    ehr = Listener(
        create_ehr_app(ResourceStore(generate(patients=100), fsync=False)),
        ListenerSettings(port=ehr_port, tls=server_tls),
        "ehr",
    )
    async with RunningServers([ehr], drain_seconds=1):
        process = await start(config, base, ca, log)
        try:
            form = {
                "grant_type": "client_credentials",
                "scope": "system/Patient.rs",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(creds),
            }
            async with httpx.AsyncClient(verify=ca, timeout=5) as client:
                token = (await client.post(creds["token_endpoint"], data=form)).json()["access_token"]
            received: list[str] = []
            stop = asyncio.Event()
            workers = [asyncio.create_task(load(base, ca, token, received, stop)) for _ in range(WORKERS)]
            await asyncio.wait_for(stop.wait(), 30)
            os.kill(process.pid, signal.SIGKILL)  # mid-load: requests are in flight
            await asyncio.to_thread(process.wait, 5)
            await asyncio.wait_for(asyncio.gather(*workers), 10)
        finally:
            if process.poll() is None:
                process.kill()
                await asyncio.to_thread(process.wait, 5)
        restarted = await start(config, base, ca, log)  # replays the spool into the store
        restarted.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(restarted.wait, 15) == 0

    db = await open_database(resolved.storage_url.get_secret_value())
    try:
        stored = await SqlAuditStore(db).search(AuditQuery(kind="exchange", limit=100_000))
    finally:
        await db.close()
    per_request = Counter(e.event["request_id"] for e in stored)
    assert len(received) >= KILL_AFTER
    assert all(per_request[rid] == 1 for rid in received), "a received response has no event, or two"
    assert max(per_request.values()) == 1
    # Events without a received response: at most the requests in flight when the node died.
    assert len(per_request) - len(set(received)) <= WORKERS
    code, out = await cli("verify", "--config", str(config), "--json")
    report = json.loads(out)
    assert code == 0 and report["valid"], report
    assert report["events"] >= len(received) + 1 and report["checkpoints"] >= 1

    # The same store through the other audit commands.
    exported = tmp_path / "events.ndjson"
    assert (await cli("export", "--config", str(config), "--out", str(exported)))[0] == 0
    resources = [json.loads(line) for line in exported.read_text().splitlines()]
    assert all(validate_resource(r, expected_type="AuditEvent") == [] for r in resources)
    profiles = [r.get("meta", {}).get("profile", [""])[0] for r in resources]
    assert sum(1 for p in profiles if p.endswith("PatientRead")) >= len(received)
    _, out = await cli("search", "--config", str(config), "--patient", "pat-0001", "--json")
    hits = json.loads(out)
    assert hits and all(h["patients"] == ["pat-0001"] and h["client_id"] == "loader" for h in hits)
    _, out = await cli("disclosures", "--config", str(config), "--patient", "pat-0001", "--format", "csv")
    rows = out.splitlines()
    assert rows[0] == "date,recipient,what,purpose,count,last_date" and len(rows) == len(hits) + 1
    assert all("Crash Vendor (client loader)" in row for row in rows[1:])
    # Tampering with one row, then verify names it and fails.
    with sqlite3.connect(tmp_path / "gateway.db") as connection:
        altered = "replace(event, '\"status\":200', '\"status\":404')"
        connection.execute(f"UPDATE audit_events SET event = {altered} WHERE seq = 7")
    code, out = await cli("verify", "--config", str(config))
    assert code == 1 and "node crash-node event #7: altered" in out


async def cli(*args: str) -> tuple[int, str]:
    """``phigate audit ...`` as an operator runs it: its exit code and standard output."""
    process = await asyncio.create_subprocess_exec(
        PHIGATE, "audit", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode()
