from __future__ import annotations

from pathlib import Path

import pytest

from phigate.adapters.spool import Spool, SpoolInUse
from phigate.audit.chain import Chain


def fill(spool: Spool, chain: Chain, n: int) -> None:
    for i in range(n):
        spool.append(chain.append({"kind": "exchange", "recorded": float(i), "pad": "x" * 100}))


async def test_events_come_back_in_order_across_segments_and_stored_segments_go(tmp_path: Path) -> None:
    spool = Spool(tmp_path, fsync="never", segment_bytes=1000)
    assert spool.open() is None
    chain = Chain("n")
    fill(spool, chain, 30)
    assert len(spool.segments()) > 3
    seen = []
    while True:
        batch, spool.position = spool.read(7)
        if not batch:
            break
        seen += [e.seq for e in batch]
        spool.release(seen[-1])
    assert seen == list(range(1, 31))
    assert len(spool.segments()) == 1  # the newest is kept: it holds the chain head
    await spool.close()


async def test_reopening_recovers_the_head_and_cuts_a_torn_line(tmp_path: Path) -> None:
    spool = Spool(tmp_path, fsync="always")
    spool.open()
    chain = Chain("n")
    fill(spool, chain, 3)
    await spool.close()
    [segment] = spool.segments()
    with segment.open("ab") as handle:
        handle.write(b'{"node":"n","seq":4,"prev')  # a crash mid-write
    again = Spool(tmp_path)
    head = again.open()
    assert head is not None and (head.seq, head.hash) == (3, chain.head)
    events, _ = again.read(10)
    assert [e.seq for e in events] == [1, 2, 3]
    await again.close()


async def test_one_spool_has_one_writer(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    first.open()
    with pytest.raises(SpoolInUse):
        Spool(tmp_path).open()
    await first.close()
    second = Spool(tmp_path)
    assert second.open() is None
    await second.close()
