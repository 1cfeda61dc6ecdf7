"""The node's local, append-only audit spool: events are safe on disk before the reply's last byte.

Each event is one JSON line appended with a single ``write()`` to the current
segment file (``segment-<first seq>.log``). Once ``write()`` returns the bytes are
in the kernel's page cache, so they survive ``kill -9`` of the process; surviving
a power loss needs ``fsync``, which the policy decides:

- ``always``: fsync after every event (before the reply's last byte): no loss
  even on power failure, at the cost of one disk flush per response;
- ``interval`` (default): a background task fsyncs every ``interval`` seconds,
  so a power loss can lose at most that window, a process crash nothing;
- ``never``: the kernel writes back when it likes.

The spool is drained in order by the writer (``adapters.sql.audit``), which
calls :meth:`Spool.release` once the database holds events; segments that are
wholly stored are deleted, except the newest, which always keeps the chain head.
A torn last line (a crash mid-write on power loss) is cut off at open.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Literal

import structlog

from phigate.audit.chain import ChainedEvent
from phigate.errors import StorageError

log = structlog.get_logger("phigate.audit.spool")
FsyncPolicy = Literal["always", "interval", "never"]
_PREFIX, _SUFFIX = "segment-", ".log"
_READ_BYTES = 4 * 1024 * 1024


def _first_seq(path: Path) -> int:
    return int(path.name.removeprefix(_PREFIX).removesuffix(_SUFFIX))


@dataclass
class ReadPosition:
    segment: Path | None = None
    offset: int = 0


class SpoolInUse(StorageError):
    """Start-up: another process holds this node's spool (two nodes configured with one node id)."""

    message = "Another process is using this node's audit spool: give each node its own node_id."


class Spool:
    """One node's spool directory; one process writes it (an exclusive lock is taken at open)."""

    def __init__(
        self,
        directory: Path,
        fsync: FsyncPolicy = "interval",
        fsync_interval: float = 0.2,
        segment_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.directory = directory
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self.segment_bytes = segment_bytes
        self._fd: int | None = None
        self._lock: int | None = None
        self._size = 0
        self._dirty = False
        self._syncer: asyncio.Task[None] | None = None
        self.position = ReadPosition()

    def open(self) -> ChainedEvent | None:
        """Open for appending; return the last event spooled (the chain head), if any."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._take_lock()
        segments = self.segments()
        if not segments:
            return None
        last = segments[-1]
        event = _repair_tail(last)
        self._open_segment(last)
        if event is None and len(segments) > 1:
            event = _last_event(segments[-2])
        return event

    def segments(self) -> list[Path]:
        return sorted(self.directory.glob(f"{_PREFIX}*{_SUFFIX}"), key=_first_seq)

    def append(self, event: ChainedEvent) -> None:
        """Write one event; raises OSError when the disk refuses (full, read-only)."""
        line = event.line()
        if self._fd is None or self._size + len(line) > self.segment_bytes:
            self._rotate(event.seq)
        assert self._fd is not None
        written = os.write(self._fd, line)
        if written != len(line):  # regular files write whole; a short write means the disk is full
            raise OSError("short write to the audit spool")
        self._size += written
        if self.fsync == "always":
            os.fsync(self._fd)
        else:
            self._dirty = True

    def start(self) -> None:
        if self.fsync == "interval" and self._syncer is None:
            self._syncer = asyncio.create_task(self._sync_loop(), name="audit-spool-fsync")

    async def close(self) -> None:
        if self._syncer is not None:
            self._syncer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._syncer
            self._syncer = None
        if self._fd is not None:
            if self.fsync != "never":
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        if self._lock is not None:
            os.close(self._lock)  # releases the flock
            self._lock = None

    def _take_lock(self) -> None:
        if self._lock is not None:
            return
        lock = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            raise SpoolInUse() from None
        self._lock = lock

    def read(self, max_events: int) -> tuple[list[ChainedEvent], ReadPosition]:
        """Up to ``max_events`` whole events after the read position, and the position after them."""
        segments = self.segments()
        position = self.position
        if position.segment is None or position.segment not in segments:
            if not segments:
                return [], position
            position = ReadPosition(segments[0], 0)
        events: list[ChainedEvent] = []
        while len(events) < max_events:
            segment = position.segment
            assert segment is not None
            batch, offset = _read_lines(segment, position.offset, max_events - len(events))
            events += batch
            position = ReadPosition(segment, offset)
            if batch:
                continue
            # Nothing more here: move on only once the writer has rotated (the segment is complete).
            current = _first_seq(segment)
            following = [s for s in segments if _first_seq(s) > current]
            if not following:
                break
            position = ReadPosition(following[0], 0)
        return events, position

    def release(self, stored_seq: int) -> None:
        """Delete segments whose events the database holds (never the newest one)."""
        segments = self.segments()
        for current, following in pairwise(segments):  # never the newest
            if _first_seq(following) - 1 > stored_seq or self.position.segment == current:
                break
            current.unlink(missing_ok=True)

    def _rotate(self, first_seq: int) -> None:
        if self._fd is not None:
            if self.fsync != "never":
                os.fsync(self._fd)
            os.close(self._fd)
        self._open_segment(self.directory / f"{_PREFIX}{first_seq:012d}{_SUFFIX}")
        _sync_directory(self.directory)

    def _open_segment(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = os.fstat(self._fd).st_size

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.fsync_interval)
            if self._dirty and self._fd is not None:
                self._dirty = False
                try:
                    await asyncio.to_thread(os.fsync, self._fd)
                except OSError:
                    log.warning("audit_spool_fsync_failed")


def _read_lines(path: Path, offset: int, max_events: int) -> tuple[list[ChainedEvent], int]:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read(_READ_BYTES)
    except FileNotFoundError:
        return [], offset
    events: list[ChainedEvent] = []
    start = 0
    while len(events) < max_events:
        end = data.find(b"\n", start)
        if end < 0:
            break
        events.append(ChainedEvent.from_line(data[start:end]))
        start = end + 1
    return events, offset + start


def _repair_tail(path: Path) -> ChainedEvent | None:
    """Cut a torn last line off; return the last whole event of the segment."""
    data = path.read_bytes()
    whole = data.rfind(b"\n") + 1
    if whole != len(data):
        log.warning("audit_spool_torn_tail", segment=path.name, bytes=len(data) - whole)
        with path.open("r+b") as handle:
            handle.truncate(whole)
    return _last_in(data[:whole])


def _last_event(path: Path) -> ChainedEvent | None:
    return _last_in(path.read_bytes())


def _last_in(data: bytes) -> ChainedEvent | None:
    lines = data.rstrip(b"\n").rsplit(b"\n", 1)
    return ChainedEvent.from_line(lines[-1]) if lines[-1] else None


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
