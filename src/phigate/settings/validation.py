"""``validation:``: the input rules every FHIR request passes before it goes upstream."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ValidationSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    strict_search: bool = True  # unknown parameters refused (unless Prefer: handling=lenient)
    max_count: Annotated[int, Field(ge=1, le=1000)] = 100  # the largest _count a caller may ask for
    includes: tuple[str, ...] = ()  # allowed _include values, Type:param ("*" allows any)
    revincludes: tuple[str, ...] = ()
    include_iterate: bool = False  # _include:iterate / _revinclude:iterate
    max_json_depth: Annotated[int, Field(ge=8, le=512)] = 64
    allow_xml: bool = True  # application/fhir+xml request bodies (parsed by a hardened parser)
    inspection: Literal["block", "report"] = "block"  # injection patterns: refuse, or only record

    @field_validator("includes", "revincludes")
    @classmethod
    def _type_param(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if value != "*" and (value.count(":") not in (1, 2) or not value[:1].isupper()):
                raise ValueError(f"'{value[:80]}' must be Type:param (or Type:param:Target), or *")
        return values
