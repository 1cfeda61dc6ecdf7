"""``contracts:``: what each third party may receive (data contracts), per client and per vendor.

A client's contract replaces its vendor's default (they are not merged), so a
contract reads whole. A client with neither is not shaped beyond its scopes.
This module checks the shape and the syntax of every value, naming the key
path; :func:`phigate.shaping.contracts.compile_contracts` checks the meaning
(known resource types, parameters the gateway can check on a resource, element
paths) when a node starts, and names the key path the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# ``{now}``, ``{now-90d}``, ``{now+12h}``: a time relative to the request, in d(ays), h(ours) or w(eeks).
RELATIVE_TIME = re.compile(r"\{now(?:(?P<sign>[+-])(?P<amount>[0-9]{1,5})(?P<unit>[dhw]))?\}")
_PARAM_NAME = re.compile(r"[a-z_][a-z0-9_\-]*(?::[A-Za-z\-]+)?")
_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{1,63}")
_ELEMENT = re.compile(r"[a-z][A-Za-z0-9]*(?:\.[a-z][A-Za-z0-9]*)*")
_OPERATION = re.compile(r"[a-z][A-Za-z0-9\-]*")
_PURPOSE = re.compile(r"[A-Z][A-Z0-9_\-]{1,31}")

Interaction = Literal["read", "vread", "search", "history", "create", "update", "patch", "delete"]
MaskMethod = Literal[
    "keep", "redact", "partial", "cryptoHash", "dateShift", "generalize", "substitute", "perturb", "encrypt"
]
Preset = Literal["safe-harbor", "limited-data-set"]
DEFAULT_FORBIDDEN = ("_include=*", "_revinclude=*", "_include:iterate", "_revinclude:iterate")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MaskRuleSettings(_Model):
    """One masking rule: an element path (FHIRPath subset) and a method with its parameters."""

    path: Annotated[str, Field(min_length=1, max_length=300)]
    method: MaskMethod
    keep_last: Annotated[int, Field(ge=0, le=16)] = 4  # partial
    to: Literal["year", "age-band", "postcode3"] | None = None  # generalize
    band: Annotated[int, Field(ge=1, le=100)] = 10  # generalize to: age-band
    top_age: Annotated[int, Field(ge=1, le=150)] = 90  # ages at or above it are top-coded / dates redacted
    replace_with: Any = None  # substitute: a JSON value
    span: Annotated[float, Field(gt=0)] | None = None  # perturb
    range_type: Literal["fixed", "proportional"] = "fixed"  # perturb
    round_to: Annotated[int, Field(ge=0, le=10)] = 0  # perturb: decimal places

    @model_validator(mode="after")
    def _method_parameters(self) -> MaskRuleSettings:
        if self.method == "generalize" and self.to is None:
            raise ValueError("generalize needs 'to' (year, age-band or postcode3)")
        if self.method == "substitute" and self.replace_with is None:
            raise ValueError("substitute needs 'replace_with'")
        if self.method == "perturb" and self.span is None:
            raise ValueError("perturb needs 'span'")
        return self


class MaskingSettings(_Model):
    """Rules run in order and the first rule that reaches an element wins; a preset's rules run after."""

    preset: Preset | None = None
    rules: tuple[MaskRuleSettings, ...] = ()


class ResourceContractSettings(_Model):
    interactions: Annotated[tuple[Interaction, ...], Field(min_length=1)] = ("read", "search")
    elements: tuple[str, ...] | None = None  # allowlist; None: every element
    search: Mapping[str, str] = Field(default_factory=dict)  # constraints ANDed into every search

    @field_validator("elements")
    @classmethod
    def _element_names(cls, values: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for value in values or ():
            if not _ELEMENT.fullmatch(value):
                raise ValueError(f"'{value[:80]}' is not an element path such as code or address.postalCode")
        return values

    @field_validator("search")
    @classmethod
    def _constraints(cls, values: Mapping[str, str]) -> Mapping[str, str]:
        for name, value in values.items():
            if not _PARAM_NAME.fullmatch(name):
                raise ValueError(f"'{name[:80]}' is not a search parameter name")
            rest = RELATIVE_TIME.sub("", value)
            if "{" in rest or "}" in rest:
                raise ValueError(
                    f"{name}: only {{now}}, {{now-90d}}, {{now+12h}} or {{now-2w}} may be templated"
                )
            if not value:
                raise ValueError(f"{name}: the constraint is empty")
        return values


class EncryptionSettings(_Model):
    """Whole responses as compact JWE to the client's own key.

    The key comes from the client registry (``phigate client encryption-key set``), which
    wins; ``keys`` here is a fallback for a client that registered none (the first
    encrypts). With no key from either, a reply that must be encrypted is refused (403),
    never sent in the clear.
    """

    responses: Literal["none", "jwe"] = "none"
    keys: tuple[Mapping[str, Any], ...] = ()  # public JWKs: RSA (RSA-OAEP-256) or EC (ECDH-ES+A256KW)


class ContractSettings(_Model):
    resources: Annotated[Mapping[str, ResourceContractSettings], Field(min_length=1)]
    operations: tuple[str, ...] = ()  # allowed $operations by name (everything, export, ...); default none
    forbidden_parameters: tuple[str, ...] = DEFAULT_FORBIDDEN  # name, name:modifier or name=value
    max_page_size: Annotated[int, Field(ge=1, le=1000)] = 100
    purposes: tuple[str, ...] = ()  # v3 PurposeOfUse codes (TREAT, HPAYMT, HRESCH); empty: any
    masking: MaskingSettings = MaskingSettings()
    encryption: EncryptionSettings = EncryptionSettings()

    @field_validator("resources")
    @classmethod
    def _type_names(cls, values: Mapping[str, Any]) -> Mapping[str, Any]:
        for name in values:
            if not _TYPE_NAME.fullmatch(name):
                raise ValueError(f"'{name[:80]}' is not a resource type name")
        return values

    @field_validator("operations")
    @classmethod
    def _operation_names(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not _OPERATION.fullmatch(value):
                raise ValueError(f"'{value[:80]}' is not an operation name (without $), such as export")
        return values

    @field_validator("forbidden_parameters")
    @classmethod
    def _parameter_rules(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            name = value.partition("=")[0]
            if not _PARAM_NAME.fullmatch(name):
                raise ValueError(f"'{value[:80]}' must be name, name:modifier or name=value")
        return values

    @field_validator("purposes")
    @classmethod
    def _purpose_codes(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not _PURPOSE.fullmatch(value):
                raise ValueError(f"'{value[:80]}' is not a PurposeOfUse code such as TREAT or HRESCH")
        return values


class ContractsSettings(_Model):
    vendors: Mapping[str, ContractSettings] = Field(default_factory=dict)  # vendor id -> default contract
    clients: Mapping[str, ContractSettings] = Field(default_factory=dict)  # phigate client id -> contract
