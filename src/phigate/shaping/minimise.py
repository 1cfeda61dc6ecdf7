"""The response side of a data contract: what leaves is filtered again, then masked.

:func:`needs_body` says whether a response must be read at all (a response no
contract term can change is streamed untouched). :func:`shape_document` works
on the parsed JSON in place, once: resources of types the contract does not
allow and resources outside its search constraints leave a searchset (its
``total`` lowered by the matches removed), elements outside the type's
allowlist go (the resource labelled REDACTED), the masking profile runs on each
resource and on the Bundle itself, and Bundle links and ``fullUrl`` pointing at
the upstream are rewritten to the gateway (other origins are dropped).
A single resource the contract does not allow is a refusal, returned as a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from phigate.errors import KeyStoreError
from phigate.fhir.request import FhirRequest, Interaction
from phigate.shaping.contracts import Contract, ElementTree, TypeTerms
from phigate.shaping.masking import SECURITY_SYSTEM, Sealer
from phigate.shaping.pseudonyms import VendorKeys
from phigate.shaping.tally import Tally

_MANDATORY = frozenset({"resourceType", "id", "meta"})
_CONTAINERS = frozenset({"searchset", "history"})
_SINGLE = frozenset({Interaction.READ, Interaction.VREAD, Interaction.CREATE, Interaction.UPDATE,
                     Interaction.PATCH})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Bases:
    """Where the upstream lives and where the caller sees the gateway, for rewriting URLs in a Bundle."""

    upstream: tuple[str, ...]
    public: str

    def rewrite(self, url: str) -> str | None:
        for base in self.upstream:
            if url == base or url.startswith(base + "/") or url.startswith(base + "?"):
                return self.public + url[len(base) :]
        if "://" not in url and not url.startswith("//"):
            return url
        if url == self.public or url.startswith((self.public + "/", self.public + "?")):
            return url
        return None


def needs_body(contract: Contract, request: FhirRequest) -> bool:
    """True unless the reply is certain to leave unchanged (then it is streamed, not parsed)."""
    if contract.encrypt or contract.masking is not None:
        return True
    if request.interaction is Interaction.OPERATION or request.resource_type is None:
        return True
    terms = contract.types.get(request.resource_type)
    if terms is None or terms.elements is not None or terms.constraints:
        return True
    return request.interaction not in _SINGLE and bool(request.includes or request.revincludes)


def shape_document(
    document: dict[str, Any], contract: Contract, keys: VendorKeys | None, now: float, bases: Bases,
    tally: Tally, seal: Sealer | None = None,
) -> str | None:  # fmt: skip
    """Shape ``document`` in place; a refusal reason (safe to show) when it may not leave at all.

    ``seal`` encrypts one element's value for the contract's ``encrypt`` rules (see
    :mod:`phigate.shaping.masking`); without it such an element is removed, never sent in the clear.
    """
    if document.get("resourceType") == "Bundle" and document.get("type") in _CONTAINERS:
        _shape_bundle(document, contract, keys, now, bases, tally, seal)
        return None
    refusal = _admit(document, contract, now)
    if refusal is not None:
        return refusal
    _shape_resource(document, contract, keys, now, tally, seal)
    return None


def _shape_bundle(
    bundle: dict[str, Any],
    contract: Contract,
    keys: VendorKeys | None,
    now: float,
    bases: Bases,
    tally: Tally,
    seal: Sealer | None,
) -> None:
    kept: list[Any] = []
    removed_matches = 0
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            tally.entry_removed("unreadable")
            continue
        if _is_outcome(entry, resource):
            kept.append(entry)
            continue
        refusal = _admit(resource, contract, now)
        if refusal is not None:
            tally.entry_removed(refusal_kind(resource, contract))
            search = entry.get("search")
            removed_matches += not isinstance(search, dict) or search.get("mode", "match") == "match"
            continue
        _shape_resource(resource, contract, keys, now, tally, seal)
        if isinstance(entry.get("fullUrl"), str) and bases.rewrite(entry["fullUrl"]) is None:
            del entry["fullUrl"]
        elif isinstance(entry.get("fullUrl"), str):
            entry["fullUrl"] = bases.rewrite(entry["fullUrl"])
        kept.append(entry)
    if "entry" in bundle:
        bundle["entry"] = kept
        if not kept:
            del bundle["entry"]
    if isinstance(bundle.get("total"), int) and removed_matches:
        bundle["total"] = max(0, bundle["total"] - removed_matches)
    _rewrite_links(bundle, bases)
    if contract.masking is not None and keys is not None:
        contract.masking.mask(bundle, keys, now, tally, seal)


def _admit(resource: dict[str, Any], contract: Contract, now: float) -> str | None:
    resource_type = resource.get("resourceType")
    terms = contract.types.get(resource_type) if isinstance(resource_type, str) else None
    if terms is None:
        shown = resource_type if isinstance(resource_type, str) and resource_type.isalpha() else "this type"
        return f"The data contract does not allow {shown} ({contract.key}.resources)."
    for constraint in terms.constraints:
        if not constraint.holds(resource, terms.resource_type, now):
            rule = f"{terms.key}.search.{constraint.name}"
            return f"The {terms.resource_type} is outside the data contract ({rule})."
    return None


def refusal_kind(resource: dict[str, Any], contract: Contract) -> str:
    return (
        "type-not-allowed"
        if resource.get("resourceType") not in contract.types
        else "outside-search-constraints"
    )


def _shape_resource(
    resource: dict[str, Any], contract: Contract, keys: VendorKeys | None, now: float, tally: Tally,
    seal: Sealer | None,
) -> None:  # fmt: skip
    terms = contract.types[resource["resourceType"]]
    contained = resource.get("contained")
    if isinstance(contained, list):
        resource["contained"] = [c for c in contained if _contained_kept(c, contract, keys, now, tally, seal)]
        if not resource["contained"]:
            del resource["contained"]
    if terms.elements is not None:
        _allow_only(resource, terms, tally)
    if contract.masking is not None:
        if keys is None:
            raise KeyStoreError("The masking keys this data contract needs are not loaded.")
        contract.masking.mask(resource, keys, now, tally, seal)


def _contained_kept(
    resource: Any, contract: Contract, keys: VendorKeys | None, now: float, tally: Tally,
    seal: Sealer | None,
) -> bool:  # fmt: skip
    if not isinstance(resource, dict) or _admit(resource, contract, now) is not None:
        tally.entry_removed("contained-not-allowed")
        return False
    _shape_resource(resource, contract, keys, now, tally, seal)
    return True


def _allow_only(resource: dict[str, Any], terms: TypeTerms, tally: Tally) -> None:
    assert terms.elements is not None
    removed = _prune_to(resource, terms.elements, top=True)
    if removed:
        tally.element_removed(f"{terms.key}.elements", removed)
        meta = resource.setdefault("meta", {})
        security = meta.setdefault("security", [])
        if not any(isinstance(s, dict) and s.get("code") == "REDACTED" for s in security):
            security.append({"system": SECURITY_SYSTEM, "code": "REDACTED", "display": "redacted"})


def _prune_to(node: dict[str, Any], tree: ElementTree, top: bool = False) -> int:
    """Remove what ``tree`` does not name; the number of elements removed."""
    removed = 0
    for key in list(node):
        if top and key in _MANDATORY:
            continue
        allowed = _allowed_as(key, tree)
        if allowed is _NOT_ALLOWED:
            del node[key]
            removed += 1
        elif isinstance(allowed, dict):
            removed += _prune_children(node, key, allowed)
    return removed


_NOT_ALLOWED: Any = object()


def _allowed_as(key: str, tree: ElementTree) -> Any:
    """The subtree that allows ``key`` (None: all of it), or _NOT_ALLOWED. A choice name allows its forms."""
    if key in tree:
        return tree[key]
    for name, subtree in tree.items():
        if key.startswith(name) and key[len(name) : len(name) + 1].isupper():
            return subtree
    return _NOT_ALLOWED


def _prune_children(node: dict[str, Any], key: str, tree: ElementTree) -> int:
    value = node[key]
    items = value if isinstance(value, list) else [value]
    removed = sum(_prune_to(item, tree) for item in items if isinstance(item, dict))
    if isinstance(value, list):
        node[key] = [item for item in value if not (isinstance(item, dict) and not item)]
    if not node[key]:
        del node[key]
    return removed


def _rewrite_links(bundle: dict[str, Any], bases: Bases) -> None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return
    kept = []
    for link in links:
        url = link.get("url") if isinstance(link, dict) else None
        rewritten = bases.rewrite(url) if isinstance(url, str) else None
        if rewritten is not None:
            kept.append({**link, "url": rewritten})
    bundle["link"] = kept
    if not kept:
        del bundle["link"]


def _is_outcome(entry: dict[str, Any], resource: dict[str, Any]) -> bool:
    search = entry.get("search")
    return (
        resource.get("resourceType") == "OperationOutcome"
        and isinstance(search, dict)
        and search.get("mode") == "outcome"
    )
