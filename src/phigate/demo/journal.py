"""The append-only JSON-lines journal that makes the demo EHR's writes survive a restart.

One line per write: ``{"type", "id", "version", "lastUpdated", "resource"}`` with
``resource`` null for a delete. A crash can leave a torn last line; replay drops
it and cuts the file back so the next append starts on a clean line. A bad line
anywhere else means the file was damaged or edited and is refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from phigate.errors import StorageError


class Journal:
    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self._fsync = fsync
        self._file: IO[bytes] | None = None

    def replay(self) -> Iterator[dict[str, Any]]:
        """Every entry written so far, oldest first; call before the first :meth:`append`."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        good = 0
        for line_number, line in enumerate(data.splitlines(keepends=True), start=1):
            if not line.endswith(b"\n"):
                break
            yield self._decode(line, line_number)
            good += len(line)
        if good < len(data):
            with self.path.open("r+b") as handle:
                handle.truncate(good)

    def append(self, entry: dict[str, Any]) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        self._file.write(orjson.dumps(entry) + b"\n")
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _decode(self, line: bytes, line_number: int) -> dict[str, Any]:
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            entry = None
        if not isinstance(entry, dict) or not {"type", "id", "version", "lastUpdated"} <= entry.keys():
            raise StorageError(f"The demo EHR journal is damaged at line {line_number}.")
        return entry
