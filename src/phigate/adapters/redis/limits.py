"""The limit store on Redis: every node spends from the same buckets, atomically, by server-side scripts.

Key layout (a subject's keys share one hash tag, so each script touches one
Redis Cluster slot)::

    <namespace>:rl:{<subject>}:<bucket>     string: the bucket's TAT (epoch us), expires when full again
    <namespace>:rl:{<subject>}:ctl          hash: blocked_until, interval, capacity, tightened_until
    <namespace>:rl:{<subject>}:rate~tight   string: the TAT of the bucket a tightening adds
    <namespace>:rl:{<subject>}:inflight     sorted set: request id -> lease end (us)

A request's checks go out as one ``EVALSHA`` (one round trip; with ``cluster``,
one per hash slot, pipelined); a Redis that restarted and lost its scripts gets
them loaded again on the spot.
Time is Redis's ``TIME``, so nodes with skewed clocks still share one limit.
Every call answers or raises SharedStateUnavailable within ``timeout`` seconds;
the driver reconnects by itself on the next call once Redis is back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any, cast

from redis.asyncio import Redis
from redis.crc import key_slot
from redis.exceptions import NoScriptError, ResponseError

from phigate.adapters.redis.connection import answered_within
from phigate.errors import SharedStateUnavailable
from phigate.guard.limits import Bucket, BucketCheck, Control, Verdict
from phigate.ports import SharedState


class _Script:
    def __init__(self, name: str) -> None:
        self.source = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
        self.sha = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()


SPEND = _Script("limits_spend.lua")
SLOT = _Script("limits_slot.lua")


class RedisLimitStore:
    label = "Redis"

    def __init__(self, client: Redis, namespace: str, *, timeout: float, cluster: bool = False) -> None:
        self._client = client
        self._cluster = cluster  # one script call per hash slot (else one per request)
        self._prefix = f"{namespace}:rl:"
        self._timeout = timeout

    @classmethod
    def beside(cls, shared: SharedState, *, timeout: float) -> RedisLimitStore:
        """A store on the Redis client (and namespace) of a node's shared state."""
        client: Redis = getattr(shared, "_client")  # noqa: B009 - the shared state owns and closes it
        return cls(client, shared.keys.namespace, timeout=timeout)  # type: ignore[attr-defined]

    def key(self, subject: str, name: str) -> str:
        tag = subject.replace("{", "%7B").replace("}", "%7D")
        return f"{self._prefix}{{{tag}}}:{name}"

    async def now(self) -> int:
        async with answered_within(self._timeout):
            seconds, micros = await self._client.time()
        return int(seconds) * 1_000_000 + int(micros)

    async def spend(self, checks: Sequence[BucketCheck]) -> list[Verdict]:
        if not checks:
            return []
        groups = self._groups(checks)
        async with answered_within(self._timeout):
            replies = await self._run(SPEND, [self._spend_call(group) for group in groups])
        verdicts = {
            id(check): _verdict(check, reply[5 * i : 5 * i + 5])
            for group, reply in zip(groups, replies, strict=True)
            for i, check in enumerate(group)
        }
        return [verdicts[id(check)] for check in checks]

    def _groups(self, checks: Sequence[BucketCheck]) -> list[list[BucketCheck]]:
        """Checks one script call can take: all of them, or on Redis Cluster those of one hash slot."""
        if not self._cluster:
            return [list(checks)]
        groups: dict[int, list[BucketCheck]] = {}
        for check in checks:
            groups.setdefault(key_slot(self.key(check.subject, check.name).encode()), []).append(check)
        return list(groups.values())

    def _spend_call(self, group: Sequence[BucketCheck]) -> tuple[list[str], list[int]]:
        keys: list[str] = []
        args: list[int] = []
        for c in group:
            keys += [
                self.key(c.subject, c.name),
                self.key(c.subject, "ctl"),
                self.key(c.subject, f"{c.name}~tight"),
            ]
            args += [c.bucket.interval, c.bucket.capacity, c.cost, int(c.peek), int(c.controlled)]
        return keys, args

    async def take_slot(self, key: str, member: str, limit: int, lease: float) -> bool:
        calls = [((self.key(key, "inflight"),), (limit, int(lease * 1_000_000), member))]
        async with answered_within(self._timeout):
            (reply,) = await self._run(SLOT, calls)
        return bool(reply)

    async def release_slot(self, key: str, member: str) -> None:
        async with answered_within(self._timeout):
            await self._client.zrem(self.key(key, "inflight"), member)

    async def control(self, subject: str, control: Control | None) -> None:
        key = self.key(subject, "ctl")
        async with answered_within(self._timeout), self._client.pipeline(transaction=True) as pipe:
            pipe.delete(key, self.key(subject, "rate~tight"))
            if control is not None:
                fields: dict[str, int] = {
                    "blocked_until": control.blocked_until,
                    "tightened_until": control.tightened_until,
                }
                if control.tightened is not None:
                    fields |= {"interval": control.tightened.interval, "capacity": control.tightened.capacity}
                pipe.hset(key, mapping=cast(dict[Any, Any], fields))
                until = max(control.blocked_until, control.tightened_until)
                pipe.pexpireat(key, until // 1000 + 1)
            await pipe.execute()

    async def read_control(self, subject: str) -> tuple[Control | None, int]:
        async with answered_within(self._timeout), self._client.pipeline(transaction=False) as pipe:
            pipe.hmget(self.key(subject, "ctl"), ["blocked_until", "interval", "capacity", "tightened_until"])
            pipe.time()
            (blocked, interval, capacity, tightened), (seconds, micros) = await pipe.execute()
        now = int(seconds) * 1_000_000 + int(micros)
        if blocked is None:
            return None, now
        bucket = (
            Bucket(int(interval), int(capacity)) if interval is not None and capacity is not None else None
        )
        return Control(int(blocked), bucket, int(tightened or 0)), now

    async def _run(self, script: _Script, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]) -> list[Any]:
        """EVALSHA each call in one round trip; load the script once if Redis lost it."""
        if len(calls) == 1:  # the usual case: one command, without a pipeline's overhead
            (keys, args), loaded = calls[0], False
            while True:
                try:
                    return [await self._client.evalsha(script.sha, len(keys), *keys, *args)]
                except NoScriptError:
                    if loaded:
                        raise
                    await self._client.script_load(script.source)
                    loaded = True
        for attempt in range(2):
            async with self._client.pipeline(transaction=False) as pipe:
                for keys, args in calls:
                    pipe.evalsha(script.sha, len(keys), *keys, *args)
                replies: list[Any] = await pipe.execute(raise_on_error=False)
            if attempt == 0 and any(isinstance(r, NoScriptError) for r in replies):
                await self._client.script_load(script.source)
                continue
            break
        if any(isinstance(r, ResponseError) for r in replies):
            raise SharedStateUnavailable()
        return replies


def _verdict(check: BucketCheck, r: Sequence[Any]) -> Verdict:
    return Verdict(check, bool(r[0]), int(r[1]), int(r[2]), int(r[3]), blocked=bool(r[4]))
