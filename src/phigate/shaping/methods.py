"""The masking methods, each a pure function of one primitive value (after Microsoft's FHIR anonymizer).

A method returns the new value, or :data:`REMOVED` when the element must go.
Numbers are numbers and dates stay FHIR dates, so a masked resource is still
valid FHIR where the method allows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from phigate.settings.contracts import MaskRuleSettings
from phigate.shaping.dates import age_at, shift, year_of
from phigate.shaping.pseudonyms import VendorKeys


class _Removed:
    def __repr__(self) -> str:
        return "REMOVED"


REMOVED: Final = _Removed()
# ZIP3 areas with 20,000 people or fewer (HHS Safe Harbor guidance, 2000 census): generalised to 000.
RESTRICTED_ZIP3 = frozenset(
    {"036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879",
     "884", "890", "893"}
)  # fmt: skip
_REFERENCE_KEYS = frozenset({"reference", "fullUrl"})


@dataclass(frozen=True, slots=True)
class MaskContext:
    """What a method may need besides the value: the vendor's keys, the patient the resource is about, now."""

    keys: VendorKeys
    patient_scope: str  # "Patient/<id>", or the resource's own type/id when it is about no one patient
    now: float


def apply(method: str, params: MaskRuleSettings, key: str, value: Any, ctx: MaskContext, where: str) -> Any:
    """The masked form of ``value`` (element name ``key``; ``where`` fixes the noise of perturb)."""
    if method == "redact":
        return REMOVED
    if method == "partial":
        return partial(value, params.keep_last)
    if method == "cryptoHash":
        return crypto_hash(key, value, ctx.keys)
    if method == "dateShift":
        shifted = shift(value, ctx.keys.date_offset(ctx.patient_scope)) if isinstance(value, str) else None
        return REMOVED if shifted is None else shifted
    if method == "generalize":
        return generalize(params, key, value, ctx.now)
    if method == "perturb":
        return perturb(params, value, ctx.keys.noise(f"{ctx.patient_scope}|{where}|{value}"))
    return value  # keep


def partial(value: Any, keep_last: int) -> Any:
    if not isinstance(value, str):
        return REMOVED
    kept = value[-keep_last:] if keep_last and len(value) > keep_last else ""
    return "*" * (len(value) - len(kept)) + kept


def crypto_hash(key: str, value: Any, keys: VendorKeys) -> Any:
    """HMAC-SHA256 hex; in a reference or fullUrl only the id, so ``Patient/<hash>`` resolves."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return REMOVED
    text = str(value)
    if key not in _REFERENCE_KEYS or text.startswith("#"):
        return keys.pseudonym(text)
    if text.startswith("urn:"):
        return "urn:uuid:" + _as_uuid(keys.pseudonym(text))
    parts = text.split("/")
    index = parts.index("_history") - 1 if "_history" in parts else len(parts) - 1
    if index < 0:
        return keys.pseudonym(text)
    parts[index] = keys.pseudonym(parts[index])
    if "_history" in parts:
        parts = parts[: index + 1]  # a version id would still point at the original record
    return "/".join(parts)


def generalize(params: MaskRuleSettings, key: str, value: Any, now: float) -> Any:
    if params.to == "postcode3":
        if not isinstance(value, str):
            return REMOVED
        digits = "".join(ch for ch in value if ch.isdigit())[:3]
        return "000" if len(digits) < 3 or digits in RESTRICTED_ZIP3 else digits
    if params.to == "year":
        if not isinstance(value, str) or year_of(value) is None:
            return REMOVED
        if key == "birthDate":
            age = age_at(value, now)
            if age is None or age >= params.top_age:
                return REMOVED  # an age over 89 and every date that implies it (Safe Harbor (C))
        return year_of(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return REMOVED
    banded = min(int(value) // params.band * params.band, params.top_age)
    return banded


def perturb(params: MaskRuleSettings, value: Any, noise: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or params.span is None:
        return REMOVED
    span = params.span if params.range_type == "fixed" else params.span * abs(value)
    moved = value + noise * span
    if not math.isfinite(moved):
        return REMOVED
    return round(moved) if params.round_to == 0 else round(moved, params.round_to)


def _as_uuid(digest: str) -> str:
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
