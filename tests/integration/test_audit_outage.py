"""A PostgreSQL outage: requests go on being answered and audited; no event is lost when it returns.

The test owns its PostgreSQL server (initdb in a temporary directory, a free
port), so it can stop it in the middle of traffic and start it again. While the
store is away, events wait in the node's spool (``audit lag`` grows); when it
returns the writer stores them in order, and the trail verifies.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import ssl
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fixtures.gateway_stack import free_port, running_stack
from phigate.adapters.kms.signing import CheckpointKeys
from phigate.adapters.sql import SqlSecretStore
from phigate.adapters.sql.audit import AuditQuery
from phigate.audit.chain import ChainVerifier
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE

pytestmark = pytest.mark.postgres


def _runner() -> list[str] | None:
    """How to run the PostgreSQL binaries: as ourselves, or (as root) as the postgres user."""
    if shutil.which("pg_ctl") is None or shutil.which("initdb") is None:
        return None
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else None


class OwnPostgres:
    def __init__(self, runner: list[str]) -> None:
        self.runner = runner
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="phigate-pg-"))
        self.data = self.directory / "data"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    async def run(self, *command: str) -> None:
        process = await asyncio.create_subprocess_exec(
            *self.runner, *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        _, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()[-500:]

    async def init(self) -> None:
        if self.runner:
            shutil.chown(self.directory, "postgres", "postgres")
        await self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    async def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        await self.run("pg_ctl", "-D", str(self.data), "-l", str(self.directory / "log"), "-o", options,
                       "-w", "-t", "30", "start")  # fmt: skip

    async def stop(self) -> None:
        await self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


@pytest.fixture
async def postgres() -> AsyncIterator[OwnPostgres]:
    runner = _runner()
    if runner is None:
        pytest.skip("no PostgreSQL binaries (or no postgres user to run them as root)")
    server = OwnPostgres(runner)
    try:
        await server.init()
        await server.start()
        yield server
        await server.stop()
    finally:
        shutil.rmtree(server.directory, ignore_errors=True)


async def test_requests_during_a_store_outage_are_audited_once_it_returns(
    tmp_path: Path, postgres: OwnPostgres
) -> None:
    audit = {"flush_interval_seconds": 0.05, "checkpoint_interval_seconds": 0.05}
    async with running_stack(tmp_path, storage={"url": postgres.url}, audit=audit) as stack:
        creds = await stack.register("outage-lab", "system/Patient.rs")
        form = {
            "grant_type": "client_credentials",
            "scope": "system/Patient.rs",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(creds),
        }
        evidence = stack.node.evidence
        assert evidence is not None
        received: list[tuple[str, int]] = []
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=stack.pki.ca_cert)) as client:
            token = (await client.post(creds["token_endpoint"], data=form)).json()["access_token"]
            headers = {"authorization": f"Bearer {token}"}

            async def read(i: int) -> None:
                reply = await client.get(f"{stack.public}/fhir/Patient/pat-{i:04d}", headers=headers)
                received.append((reply.headers["x-request-id"], reply.status_code))

            for i in range(1, 6):
                await read(i)
            await postgres.stop()
            for i in range(6, 16):
                await read(i)
            served = [status for _, status in received[5:]]
            assert served.count(200) >= 1, served  # the gateway kept answering (the client cache is warm)
            await asyncio.sleep(0.3)
            assert evidence.trail.writer.lag >= 10  # waiting in the spool, not lost
            await postgres.start()
            for _ in range(200):
                if evidence.trail.writer.lag == 0:
                    break
                await asyncio.sleep(0.05)
            assert evidence.trail.writer.lag == 0
        stored = await evidence.store.search(AuditQuery(kind="exchange", limit=1000))
        per_request = Counter(e.event["request_id"] for e in stored)
        assert all(per_request[rid] == 1 for rid, _ in received) and len(per_request) == len(received)
        statuses = {e.event["request_id"]: e.event["status"] for e in stored}
        assert all(statuses[rid] == status for rid, status in received)
        services = stack.node.services
        keys = await CheckpointKeys.load(SqlSecretStore(services.db, services.keyring))
        verifier = ChainVerifier(await evidence.store.checkpoints(),
                                 lambda c: keys.verify(c.key_id, c.message(), c.signature))  # fmt: skip
        async for row in evidence.store.stream():
            verifier.feed(row)
        assert verifier.finish() == []
