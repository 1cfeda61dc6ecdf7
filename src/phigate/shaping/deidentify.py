"""De-identification of a whole reply by a preset, as a vendor's posture obligation (issue 9, A.1).

A vendor with no HIPAA business associate agreement (or with EU data and no
DPA) may receive de-identified data only. Its reads are answered, but the reply
passes through the HIPAA safe-harbor preset (:mod:`phigate.shaping.presets`)
*after* whatever its data contract did: every resource in the reply (the
resource, each Bundle entry's resource at any depth, each contained resource)
and the Bundle itself (links, ``fullUrl``). Running after the contract means no
contract rule (a ``keep``) can shield an identifier from it. A resource masked
twice (a contract that also uses safe-harbor) only gets its pseudonyms hashed
once more, still stable per vendor.

A search on a person's identifying details would re-identify the answer
("the Observations of the patient named X"), however well the answer is
masked; :func:`identifying_parameters` names those parameters so the posture
stage can refuse them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from phigate.fhir.request import FhirRequest
from phigate.shaping.masking import MaskProfile
from phigate.shaping.presets import PRESETS
from phigate.shaping.pseudonyms import VendorKeys
from phigate.shaping.tally import Tally

SAFE_HARBOR = "safe-harbor"
ENTRY_URLS = "deidentify Bundle.entry.request | Bundle.entry.response.location redact"
PROFILES: dict[str, MaskProfile] = {
    name: MaskProfile.build((f"{name}.{i} {rule.path} {rule.method}", rule) for i, rule in enumerate(rules))
    for name, rules in PRESETS.items()
}

# Search parameters that name a person by the identifiers of HIPAA §164.514(b)(2)(i) (names, addresses
# below the state, dates, contact details, record and other numbers), on any resource type or chain.
IDENTIFYING_PARAMETERS = frozenset({
    "identifier", "name", "family", "given", "phonetic", "telecom", "phone", "email", "address",
    "address-city", "address-postalcode", "birthdate", "death-date", "_content", "_text",
})  # fmt: skip


def identifying_parameters(request: FhirRequest) -> list[str]:
    """The request's parameters (or chain links) that search by a person's identifiers, sorted."""
    found: set[str] = set()
    for param in request.params:
        names = {param.name, *(link.name for link in param.chain)}
        if param.has is not None:
            names.add(param.has.param)
        found |= names & IDENTIFYING_PARAMETERS
    return sorted(found)


def deidentify(
    document: dict[str, Any], profile: MaskProfile, keys: VendorKeys, now: float, tally: Tally,
    rewrite: Callable[[str], str | None] | None = None,
) -> None:  # fmt: skip
    """Mask ``document`` in place with ``profile``: every resource in it, at any depth, then the document.

    ``rewrite`` moves a Bundle entry's ``fullUrl`` from the upstream to the gateway (None: drop it), for a
    reply no contract has rewritten already.
    """
    contained = document.get("contained")
    if isinstance(contained, list):
        for resource in contained:
            if isinstance(resource, dict):
                deidentify(resource, profile, keys, now, tally)
    if document.get("resourceType") == "Bundle":
        for entry in document.get("entry") or []:
            if not isinstance(entry, dict):
                continue
            _without_urls(entry, tally, rewrite)
            resource = entry.get("resource")
            if isinstance(resource, dict):
                deidentify(resource, profile, keys, now, tally, rewrite)
    profile.mask(document, keys, now, tally)


def _without_urls(entry: dict[str, Any], tally: Tally, rewrite: Callable[[str], str | None] | None) -> None:
    """A history or batch entry's request URL and response location name real ids: they go."""
    full_url = entry.get("fullUrl")
    if rewrite is not None and isinstance(full_url, str):
        moved = rewrite(full_url)
        if moved is None:
            del entry["fullUrl"]
        else:
            entry["fullUrl"] = moved
    response = entry.get("response")
    removed = entry.pop("request", None) is not None
    if isinstance(response, dict) and response.pop("location", None) is not None:
        removed = True
    if removed:
        tally.removed_by_rule(ENTRY_URLS)
