"""The hash chain: each node's events linked in order, and the checkpoints that seal them.

Every node keeps its own chain (a sequence number from 1 and the hash of the
event before), so nodes never coordinate to write. An event's hash covers the
node, its sequence number, the previous hash and the canonical JSON of the event:
editing a stored event breaks its own hash; removing one leaves a gap in the
sequence; storing two in another order shows in the insertion order the store
keeps. A signed checkpoint of a node's head (sequence, hash) catches events cut
off the end, and a whole chain rewritten without the signing key. A signed purge
mark (retention) moves a chain's start: the verifier starts after it and checks
only that the held events it lists are still there, unaltered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from phigate.audit.retention import PurgeMark

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class ChainedEvent:
    node: str
    seq: int
    prev_hash: str
    hash: str
    event: dict[str, Any]  # AuditEvent.record()

    def line(self) -> bytes:
        """One spool line (JSON, newline-terminated)."""
        record = {"node": self.node, "seq": self.seq, "prev": self.prev_hash, "hash": self.hash}
        return orjson.dumps(record | {"event": self.event}) + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> ChainedEvent:
        data = orjson.loads(line)
        return cls(data["node"], data["seq"], data["prev"], data["hash"], data["event"])


def event_hash(node: str, seq: int, prev_hash: str, event: dict[str, Any]) -> str:
    body = orjson.dumps([node, seq, prev_hash, event], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


class Chain:
    """One node's chain head; :meth:`append` is called in order from one task (the event loop)."""

    def __init__(self, node: str, seq: int = 0, head: str = GENESIS) -> None:
        self.node = node
        self.seq = seq
        self.head = head

    def append(self, event: dict[str, Any]) -> ChainedEvent:
        seq, prev = self.seq + 1, self.head
        digest = event_hash(self.node, seq, prev, event)
        self.seq, self.head = seq, digest
        return ChainedEvent(self.node, seq, prev, digest, event)


def checkpoint_message(node: str, seq: int, head: str, signed_at: float) -> bytes:
    """The exact bytes a checkpoint signs."""
    fields = {"purpose": "phigate-audit-checkpoint", "node": node, "seq": seq, "head": head, "at": signed_at}
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    node: str
    seq: int
    head: str
    signed_at: float
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return checkpoint_message(self.node, self.seq, self.head, self.signed_at)


@dataclass(frozen=True, slots=True)
class Finding:
    """The first problem of one node's chain: which event, and what is wrong with it."""

    node: str
    seq: int
    problem: str  # "altered", "removed", "reordered", "bad-checkpoint", "bad-purge"
    detail: str

    def describe(self) -> str:
        return f"node {self.node} event #{self.seq}: {self.problem} ({self.detail})"


class ChainVerifier:
    """Checks stored events fed in (node, insertion) order; one finding per broken node.

    ``signature_ok`` verifies a checkpoint's signature with the deployment's
    checkpoint key, ``purge_ok`` a purge mark's. Feed every row with :meth:`feed`,
    then call :meth:`finish`.
    """

    def __init__(
        self,
        checkpoints: Iterable[Checkpoint],
        signature_ok: Callable[[Checkpoint], bool],
        purges: Iterable[PurgeMark] = (),
        purge_ok: Callable[[PurgeMark], bool] | None = None,
    ) -> None:
        self.findings: list[Finding] = []
        self._starts: dict[str, PurgeMark] = {}
        for mark in purges:
            if purge_ok is None or not purge_ok(mark):
                detail = "its signature does not verify with the checkpoint key"
                self.findings.append(Finding(mark.node, mark.seq, "bad-purge", detail))
            elif mark.seq >= getattr(self._starts.get(mark.node), "seq", 0):  # fed in order: the last wins
                self._starts[mark.node] = mark
        self._kept_seen: set[int] = set()
        self.counted = 0
        self._signed: dict[str, dict[int, str]] = {}
        for checkpoint in checkpoints:
            if signature_ok(checkpoint):
                self._signed.setdefault(checkpoint.node, {})[checkpoint.seq] = checkpoint.head
            else:
                detail = "its signature does not verify with the checkpoint key"
                self.findings.append(Finding(checkpoint.node, checkpoint.seq, "bad-checkpoint", detail))
        self._node: str | None = None
        self._expected, self._prev = 1, GENESIS
        self._broken = False
        self._gap: ChainedEvent | None = None
        self._done: set[str] = set()

    def feed(self, row: ChainedEvent) -> None:
        self.counted += 1
        if row.node != self._node:
            self._close()
            mark = self._starts.get(row.node)
            start, head = (mark.seq + 1, mark.head) if mark is not None else (1, GENESIS)
            self._node, self._expected, self._prev, self._broken, self._gap = (
                row.node,
                start,
                head,
                False,
                None,
            )
            self._kept_seen = set()
        if self._broken:
            return
        mark = self._starts.get(row.node)
        if mark is not None and row.seq <= mark.seq:
            finding = self._check_held(row, mark)
        else:
            finding = self._check(row)
        if finding is not None:
            self.findings.append(finding)
            self._broken = True

    def _check_held(self, row: ChainedEvent, mark: PurgeMark) -> Finding | None:
        """An event before the chain's start: one the purge kept under a legal hold."""
        if event_hash(row.node, row.seq, row.prev_hash, row.event) != row.hash:
            return Finding(row.node, row.seq, "altered", "its content no longer matches its hash")
        if row.seq not in mark.kept:
            return Finding(row.node, row.seq, "altered", f"stored though purge mark #{mark.seq} removed it")
        self._kept_seen.add(row.seq)
        return None

    def finish(self) -> list[Finding]:
        self._close()
        for node in sorted(self._signed.keys() - self._done):
            last = max(self._signed[node])
            if last <= getattr(self._starts.get(node), "seq", 0):
                continue  # every signed event was purged
            detail = f"checkpoint #{last} signed events that are no longer stored"
            self.findings.append(Finding(node, 1, "removed", detail))
        for node in sorted(self._starts.keys() - self._done):
            mark = self._starts[node]
            if mark.kept:
                detail = f"purge mark #{mark.seq} kept it under a legal hold"
                self.findings.append(Finding(node, min(mark.kept), "removed", detail))
        return self.findings

    def _check(self, row: ChainedEvent) -> Finding | None:
        if event_hash(row.node, row.seq, row.prev_hash, row.event) != row.hash:
            return Finding(row.node, row.seq, "altered", "its content no longer matches its hash")
        if self._gap is not None:
            gap, self._gap = self._gap, None
            if row.seq == self._expected:
                return Finding(row.node, gap.seq, "reordered", f"stored before event #{row.seq}")
            return Finding(row.node, self._expected, "removed", f"the chain jumps to #{gap.seq}")
        if row.seq > self._expected:
            self._gap = row  # a gap, or a swap: the next row tells
            return None
        if row.seq < self._expected:
            return Finding(row.node, row.seq, "reordered", f"stored after event #{self._expected - 1}")
        if row.prev_hash != self._prev:
            return Finding(row.node, row.seq, "altered", "it does not link to the event before it")
        signed = self._signed.get(row.node, {}).get(row.seq)
        if signed is not None and signed != row.hash:
            return Finding(row.node, row.seq, "altered", "its hash differs from the signed checkpoint")
        self._expected, self._prev = row.seq + 1, row.hash
        return None

    def _close(self) -> None:
        node = self._node
        if node is None:
            return
        self._done.add(node)
        if self._broken:
            return
        mark = self._starts.get(node)
        missing = sorted(set(mark.kept) - self._kept_seen) if mark is not None else []
        if missing:
            detail = f"purge mark #{mark.seq if mark else 0} kept it under a legal hold"
            self.findings.append(Finding(node, missing[0], "removed", detail))
            return
        if self._gap is not None:
            self.findings.append(
                Finding(node, self._expected, "removed", f"the chain jumps to #{self._gap.seq}")
            )
            return
        last = self._expected - 1
        signed = max(self._signed.get(node, {0: ""}))
        if signed > last:
            detail = f"checkpoint #{signed} signed events up to it; the chain ends at #{last}"
            self.findings.append(Finding(node, last + 1, "removed", detail))
