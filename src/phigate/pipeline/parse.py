"""Stage: parse the FHIR request into a typed value (``phigate.fhir``)."""

from __future__ import annotations

from phigate.exchange import Exchange
from phigate.fhir.parser import parse_request


async def parse(ex: Exchange) -> None:
    ex.fhir = parse_request(ex.method, ex.relative_path, ex.query)
    ex.facts["interaction"] = ex.fhir.interaction.value
    if ex.fhir.resource_type is not None:
        ex.facts["resource_type"] = ex.fhir.resource_type
