"""The patient picker's source: Patient searches the gateway makes upstream for a signed-in person.

A standalone launch asking for ``launch/patient`` by someone who is not a
patient (a clinician) needs a patient in context. The picker searches the FHIR
server behind the launch's ``aud`` by name (or by identifier when the text holds
a digit), at most :data:`LIMIT` matches, and checks that a chosen id is a Patient
that exists there. The caller audits each search and choice: the names shown are
a disclosure to that person.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from phigate.errors import UpstreamError
from phigate.proxy import UpstreamPool, UpstreamRequest

LIMIT = 20
MAX_QUERY = 64
MAX_BUNDLE_BYTES = 2 * 1024 * 1024
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_HEADERS = [("accept", "application/fhir+json")]


@dataclass(frozen=True)
class PatientChoice:
    patient_id: str
    name: str
    birth_date: str
    gender: str


class PatientDirectory:
    """``upstreams``: the pool behind each FHIR base URL (the ``aud`` of a launch)."""

    def __init__(self, upstreams: Mapping[str, UpstreamPool]) -> None:
        self.upstreams = upstreams

    async def search(self, aud: str, text: str) -> list[PatientChoice]:
        """Patients matching ``text``; raises :class:`UpstreamError` when the FHIR server cannot answer."""
        text = " ".join(text.split())[:MAX_QUERY]
        if not text:
            return []
        parameter = "identifier" if any(c.isdigit() for c in text) else "name"
        query = f"{parameter}={quote(text, safe='')}&_count={LIMIT}"
        document = await self._get(aud, "/Patient", query)
        entries = document.get("entry") if document is not None else None
        found = [_choice(e.get("resource")) for e in entries or () if isinstance(e, dict)]
        return [choice for choice in found if choice is not None][:LIMIT]

    async def find(self, aud: str, patient_id: str) -> PatientChoice | None:
        """The Patient with this id on the launch's FHIR server, or ``None``."""
        if not _FHIR_ID.fullmatch(patient_id):
            return None
        return _choice(await self._get(aud, f"/Patient/{patient_id}", ""))

    async def _get(self, aud: str, path: str, query: str) -> dict[str, Any] | None:
        pool = self.upstreams.get(aud)
        if pool is None:
            raise UpstreamError()
        response = await pool.send(UpstreamRequest(method="GET", path=path, query=query, headers=_HEADERS))
        try:
            if response.status in (404, 410):
                return None
            if response.status != 200:
                raise UpstreamError()
            body = await response.read(MAX_BUNDLE_BYTES)
        finally:
            await response.close()
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamError() from None
        return document if isinstance(document, dict) else None


def _choice(resource: object) -> PatientChoice | None:
    if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
        return None
    patient_id = resource.get("id")
    if not isinstance(patient_id, str) or not _FHIR_ID.fullmatch(patient_id):
        return None
    return PatientChoice(patient_id, _name(resource.get("name")), _text(resource.get("birthDate")),
                         _text(resource.get("gender")))  # fmt: skip


def _name(names: object) -> str:
    for name in names if isinstance(names, list) else ():
        if not isinstance(name, dict):
            continue
        if isinstance(name.get("text"), str):
            return str(name["text"])[:200]
        given = [part for part in name.get("given") or () if isinstance(part, str)]
        family = name.get("family") if isinstance(name.get("family"), str) else ""
        text = " ".join([*given, str(family)]).strip()
        if text:
            return text[:200]
    return "(no name)"


def _text(value: object) -> str:
    return value[:40] if isinstance(value, str) else ""
