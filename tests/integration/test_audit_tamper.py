"""Editing, deleting or swapping a stored audit event, or cutting the chain short: verify names it.

Two gateway nodes write one store, each its own chain; the findings name the
node and the event. (The command-line ``audit verify`` runs the same verifier;
it is exercised in test_audit_crash.)
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from fixtures.gateway_stack import Stack, running_stack
from phigate.adapters.kms.signing import CheckpointKeys
from phigate.adapters.sql import SqlSecretStore
from phigate.audit.chain import ChainVerifier, Finding
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.pipeline.audit import Evidence

REQUESTS_PER_NODE = 5


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    audit = {"flush_interval_seconds": 0.05, "checkpoint_interval_seconds": 0.05}
    async with running_stack(tmp_path, nodes=2, audit=audit) as running:
        creds = await running.register("tamper-lab", "system/Patient.rs")
        form = {
            "grant_type": "client_credentials",
            "scope": "system/Patient.rs",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(creds),
        }
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=running.pki.ca_cert)) as client:
            token = (await client.post(creds["token_endpoint"], data=form)).json()["access_token"]
            headers = {"authorization": f"Bearer {token}"}
            for public in running.publics:
                for i in range(REQUESTS_PER_NODE):
                    reply = await client.get(f"{public}/fhir/Patient/pat-{i + 1:04d}", headers=headers)
                    assert reply.status_code == 200
        await sealed(running)
        yield running


def evidence(stack: Stack) -> Evidence:
    assert stack.node.evidence is not None
    return stack.node.evidence


async def sealed(stack: Stack) -> None:
    """Wait (bounded) until every node's events are stored and its head is signed."""
    for _ in range(200):
        checkpoints = await evidence(stack).store.checkpoints()
        heads = {n.node_id: n.evidence.trail.chain.seq for n in stack.nodes if n.evidence is not None}
        signed = {c.node: c.seq for c in checkpoints}
        if all(signed.get(node) == seq for node, seq in heads.items()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the audit trail was not sealed in time")


async def verify(stack: Stack) -> list[Finding]:
    trail = evidence(stack)
    services = stack.node.services
    keys = await CheckpointKeys.load(SqlSecretStore(services.db, services.keyring))  # every node's key
    verifier = ChainVerifier(
        await trail.store.checkpoints(), lambda c: keys.verify(c.key_id, c.message(), c.signature)
    )
    async for row in trail.store.stream():
        verifier.feed(row)
    return verifier.finish()


async def sql(stack: Stack, *statements: str) -> None:
    async with stack.node.services.db.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement))


async def test_an_untouched_trail_of_two_nodes_verifies(stack: Stack) -> None:
    assert await verify(stack) == []
    nodes = {c.node for c in await evidence(stack).store.checkpoints()}
    assert nodes == {"test-node-0", "test-node-1"}


async def test_an_edited_event_is_named(stack: Stack) -> None:
    await sql(stack, "UPDATE audit_events SET event = replace(event, 'pat-00', 'pat-99') "
                     "WHERE node = 'test-node-1' AND seq = 4")  # fmt: skip
    [finding] = await verify(stack)
    assert (finding.node, finding.seq, finding.problem) == ("test-node-1", 4, "altered")


async def test_a_deleted_event_is_named(stack: Stack) -> None:
    await sql(stack, "DELETE FROM audit_events WHERE node = 'test-node-0' AND seq = 3")
    [finding] = await verify(stack)
    assert (finding.node, finding.seq, finding.problem) == ("test-node-0", 3, "removed")


async def test_swapped_events_are_named(stack: Stack) -> None:
    # Exchange the storage positions of events #3 and #4 of node 0: #4 is now stored before #3.
    node = "node = 'test-node-0'"
    await sql(
        stack,
        f"CREATE TEMP TABLE ids AS SELECT seq, id FROM audit_events WHERE {node} AND seq IN (3, 4)",
        f"UPDATE audit_events SET id = -id WHERE {node} AND seq IN (3, 4)",
        f"UPDATE audit_events SET id = (SELECT id FROM ids WHERE seq = 4) WHERE {node} AND seq = 3",
        f"UPDATE audit_events SET id = (SELECT id FROM ids WHERE seq = 3) WHERE {node} AND seq = 4",
    )
    # Now event #4 is stored before #3.
    [finding] = await verify(stack)
    assert (finding.node, finding.problem) == ("test-node-0", "reordered")
    assert finding.seq == 4


async def test_events_cut_off_the_end_are_caught_by_the_signed_checkpoint(stack: Stack) -> None:
    last = evidence(stack).trail.chain.seq
    await sql(stack, f"DELETE FROM audit_events WHERE node = 'test-node-0' AND seq >= {last - 1}")
    [finding] = await verify(stack)
    assert (finding.node, finding.seq, finding.problem) == ("test-node-0", last - 1, "removed")


async def test_a_forged_checkpoint_is_named(stack: Stack) -> None:
    await sql(stack, "UPDATE audit_checkpoints SET signature = X'00' WHERE node = 'test-node-1'")
    findings = await verify(stack)
    assert findings and all(f.problem == "bad-checkpoint" and f.node == "test-node-1" for f in findings)
