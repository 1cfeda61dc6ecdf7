from __future__ import annotations

from dataclasses import replace

from phigate.audit.chain import Chain, ChainedEvent, ChainVerifier, Checkpoint, Finding


def events(node: str, n: int) -> list[ChainedEvent]:
    chain = Chain(node)
    return [chain.append({"kind": "exchange", "recorded": float(i), "patients": [f"p{i}"]}) for i in range(n)]


def verify(
    rows: list[ChainedEvent], checkpoints: list[Checkpoint] | None = None, ok: bool = True
) -> list[Finding]:
    verifier = ChainVerifier(checkpoints or [], lambda _: ok)
    for row in rows:
        verifier.feed(row)
    return verifier.finish()


def signed(row: ChainedEvent) -> Checkpoint:
    return Checkpoint(row.node, row.seq, row.hash, 0.0, "k", b"sig")


def test_intact_chains_of_two_nodes_verify() -> None:
    rows = events("a", 5) + events("b", 3)
    assert verify(rows, [signed(rows[4]), signed(rows[7])]) == []


def test_an_edit_is_named() -> None:
    rows = events("a", 5)
    rows[2] = replace(rows[2], event={**rows[2].event, "patients": ["someone-else"]})
    assert [(f.seq, f.problem) for f in verify(rows)] == [(3, "altered")]


def test_a_rehashed_edit_breaks_the_next_link() -> None:
    rows = events("a", 5)
    chain = Chain("a", 2, rows[1].hash)
    rows[2] = chain.append({**rows[2].event, "patients": []})  # the attacker recomputes its hash
    assert [(f.seq, f.problem) for f in verify(rows)] == [(4, "altered")]


def test_a_removal_and_a_swap_are_told_apart() -> None:
    rows = events("a", 6)
    assert [(f.seq, f.problem) for f in verify([*rows[:2], *rows[3:]])] == [(3, "removed")]
    swapped = [*rows[:2], rows[3], rows[2], *rows[4:]]
    assert [(f.seq, f.problem) for f in verify(swapped)] == [(4, "reordered")]


def test_truncation_and_a_vanished_node_are_caught_by_checkpoints() -> None:
    rows = events("a", 6)
    assert [(f.seq, f.problem) for f in verify(rows[:4], [signed(rows[5])])] == [(5, "removed")]
    assert [(f.node, f.problem) for f in verify([], [signed(rows[5])])] == [("a", "removed")]


def test_a_checkpoint_that_does_not_verify_is_named() -> None:
    rows = events("a", 2)
    assert [f.problem for f in verify(rows, [signed(rows[1])], ok=False)] == ["bad-checkpoint"]
