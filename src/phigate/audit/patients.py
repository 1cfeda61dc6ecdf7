"""Which patients' data a reply carried, read from the bytes as they stream to the caller.

Cost is the design constraint: the gateway streams replies without parsing
them, and auditing must not change that. So a :class:`PatientScan` is fed each
chunk as it goes out and does two cheap things:

- a byte regex (C speed, no parse) finds every ``Patient/<id>`` reference: a
  resource's ``subject``/``patient``/``beneficiary``, a Bundle entry's
  ``fullUrl``, in JSON and in XML alike. A reference anywhere counts: for the
  accounting of disclosures, naming a patient too many is the safe error.
- the first ``inspect_max_bytes`` are kept; at the end, if the whole reply fit
  and is JSON, it is parsed once (orjson) only to name Patient resources by
  their ``id`` (a read of ``Patient/x`` carries no reference to itself).

Compressed replies (gzip/deflate) are inflated for the scan, bounded by the
same budget per chunk; an encoding it cannot read marks the scan incomplete.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

import orjson

# A literal prefix (no look-behind) lets ``re`` skip ahead with a fast substring search; the byte
# before the match is checked by hand (``NotPatient/x`` is no reference).
_REFERENCE = re.compile(rb"Patient/([A-Za-z0-9\-.]{1,64})")
_WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_CARRY = 80  # bytes kept across chunks: longer than "Patient/" + the longest id
_INFLATE_MAX_CHUNK = 1 << 20


class PatientScan:
    def __init__(self, content_type: str | None, content_encoding: str | None, keep_bytes: int) -> None:
        kind = (content_type or "").lower()
        self.json = "json" in kind
        self.active = self.json or "xml" in kind
        encoding = (content_encoding or "identity").lower()
        self.complete = encoding in ("identity", "gzip", "deflate", "x-gzip")
        self._inflate = zlib.decompressobj(47) if encoding in ("gzip", "deflate", "x-gzip") else None
        self._keep = keep_bytes
        self._kept = bytearray()
        self._overflow = False
        self._carry = b""
        self.patients: set[str] = set()

    def feed(self, chunk: bytes) -> None:
        if not self.active or not self.complete or not chunk:
            return
        data = self._inflated(chunk)
        if data is None:
            return
        if not self._overflow:
            if len(self._kept) + len(data) <= self._keep:
                self._kept += data
            else:
                self._overflow = True
                self._kept.clear()
        self._scan(self._carry + data, final=False)

    def finish(self) -> set[str]:
        """The patient ids seen; call once, after the last chunk."""
        if self.active and self.complete:
            self._scan(self._carry, final=True)
            if self.json and not self._overflow and self._kept:
                self.patients |= patient_resources(bytes(self._kept))
        return self.patients

    def _inflated(self, chunk: bytes) -> bytes | None:
        if self._inflate is None:
            return chunk
        try:
            data = self._inflate.decompress(chunk, _INFLATE_MAX_CHUNK)
        except zlib.error:
            self.complete = False
            return None
        if self._inflate.unconsumed_tail:
            self.complete = False  # a compression bomb, or a chunk larger than the scan budget
            return None
        return data

    def _scan(self, data: bytes, final: bool) -> None:
        end = len(data)
        for match in _REFERENCE.finditer(data):
            start = match.start()
            if start and data[start - 1] in _WORD:
                continue
            if final or match.end() < end:  # an id touching the end may continue in the next chunk
                self.patients.add(match.group(1).decode("ascii"))
        self._carry = b"" if final else data[-_CARRY:]


def patient_resources(body: bytes) -> set[str]:
    """Ids of the Patient resources in a FHIR JSON body (a resource, or a Bundle's entries)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return set()
    found: set[str] = set()
    for resource in _resources(document):
        if resource.get("resourceType") == "Patient" and isinstance(resource.get("id"), str):
            found.add(resource["id"])
    return found


def _resources(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        return []
    if document.get("resourceType") != "Bundle":
        return [document]
    entries = document.get("entry")
    if not isinstance(entries, list):
        return []
    return [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
