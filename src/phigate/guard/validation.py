"""One request through every input check of the guard: :func:`inspect_request`.

Order follows cost: raw path and headers, then the FHIR request line and its
search parameters, then the body (media type, safe parsing, FHIR structure,
inspection), then the response format. A check whose input is already refused is
skipped (a body that is not JSON is not validated). The result is every
:class:`~phigate.guard.issues.Issue` found; blocking ones refuse the request with
:func:`~phigate.guard.issues.status_of` and :func:`~phigate.guard.issues.outcome`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from phigate.errors import RequestError
from phigate.fhir.parser import parse_request
from phigate.fhir.request import FhirRequest, Interaction
from phigate.fhir.urlencoding import DecodeError, percent_decode
from phigate.guard.inspection import Mode, RuleSet, default_rules, inspect_json, inspect_params
from phigate.guard.issues import InputRefused, Issue, blocking
from phigate.guard.json_safety import parse_json
from phigate.guard.media import BodyFormat, body_format, response_format
from phigate.guard.paths import Header, check_headers, check_raw_path
from phigate.guard.resource_validation import validate_bundle, validate_json_patch, validate_resource
from phigate.guard.search_rules import SearchPolicy, check_search, strict_from_prefer
from phigate.guard.xml_safety import parse_fhir_xml

_BODILESS = frozenset({"GET", "HEAD", "DELETE"})


@dataclass(frozen=True, slots=True)
class GuardConfig:
    """Per-route input rules. ``strict`` is the default when no ``Prefer: handling`` is sent."""

    base: str = "/fhir"
    max_body_bytes: int = 1024 * 1024
    max_depth: int = 64
    allow_xml: bool = True
    search: SearchPolicy = field(default_factory=SearchPolicy)
    inspection: Mode = "block"
    rules: RuleSet = field(default_factory=default_rules)


def inspect_request(
    method: str, raw_path: bytes, query: str, headers: Sequence[Header], body: bytes, config: GuardConfig
) -> list[Issue]:
    """Every problem of one request (an empty list: accept it)."""
    issues = check_raw_path(raw_path, config.base) + check_headers(headers)
    if blocking(issues):
        return issues
    values = _header_values(headers)
    form = method == "POST" and raw_path.split(b"?")[0].endswith(b"/_search")
    request = _parse(method, raw_path, query if not form else body.decode("utf-8", "replace"), form, config)
    if isinstance(request, Issue):
        return [*issues, request]
    issues += _search_issues(request, values, config)
    issues += _param_inspection(query, config)
    if form:
        issues += _catch(lambda: body_format(Interaction.SEARCH, values.get("content-type")))
        issues += _param_inspection(body.decode("utf-8", "replace"), config, form=True)
    else:
        issues += _body_issues(request, values.get("content-type"), body, config)
    issues += _catch(
        lambda: response_format(values.get("accept"), _format_of(request), allow_xml=config.allow_xml)
    )
    return issues


def _header_values(headers: Sequence[Header]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in headers:
        key = (name.decode("latin-1") if isinstance(name, bytes) else name).lower()
        values[key] = value.decode("latin-1") if isinstance(value, bytes) else value
    return values


def _parse(method: str, raw_path: bytes, query: str, form: bool, config: GuardConfig) -> FhirRequest | Issue:
    path = raw_path.split(b"?")[0].decode("ascii")
    if not (path == config.base or path.startswith(config.base + "/")):
        return Issue("path", "path.outside-base", "The path is not below the FHIR base.", 404, "not-found")
    try:
        return parse_request(method, path[len(config.base) :], query, body_is_form=form)
    except RequestError as exc:
        return Issue("request", "request.malformed", exc.message, exc.status, exc.code)


def _search_issues(request: FhirRequest, values: dict[str, str], config: GuardConfig) -> list[Issue]:
    strict = strict_from_prefer(values.get("prefer"), config.search.strict)
    policy = SearchPolicy(
        strict,
        config.search.max_count,
        config.search.includes,
        config.search.revincludes,
        config.search.iterate,
    )
    if request.interaction not in (Interaction.SEARCH, Interaction.HISTORY) and not request.conditional:
        # Other interactions take only result parameters (``_format``, ``_pretty``, ``_summary``...).
        return [
            i
            for i in check_search(request.resource_type, request.params, (), (), policy)
            if i.rule != "search.unknown-param"
        ] + _no_includes(request)
    return check_search(request.resource_type, request.params, request.includes, request.revincludes, policy)


def _no_includes(request: FhirRequest) -> list[Issue]:
    if request.includes or request.revincludes:
        return [Issue("_include", "search.include-not-allowed", "_include applies to searches only.", 400)]
    return []


def _param_inspection(query: str, config: GuardConfig, form: bool = False) -> list[Issue]:
    pairs = []
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        try:
            pairs.append((percent_decode(name, form=form), percent_decode(value, form=form)))
        except DecodeError:
            continue  # the parser has refused it already
    return inspect_params(pairs, config.rules, config.inspection)


def _body_issues(
    request: FhirRequest, content_type: str | None, body: bytes, config: GuardConfig
) -> list[Issue]:
    if request.method in _BODILESS:
        return [Issue("body", "body.unexpected", "This request must not have a body.", 400)] if body else []
    if not body and request.interaction is Interaction.OPERATION:
        return []
    try:
        kind = body_format(request.interaction, content_type, allow_xml=config.allow_xml)
        if kind is BodyFormat.XML:
            parse_fhir_xml(body, config.max_body_bytes, config.max_depth, _expected_type(request))
            return []
        document = parse_json(body, config.max_body_bytes, config.max_depth)
    except InputRefused as exc:
        return list(exc.issues)
    return _content_issues(request, kind, document) + inspect_json(document, config.rules, config.inspection)


def _content_issues(request: FhirRequest, kind: BodyFormat, document: Any) -> list[Issue]:
    if kind is BodyFormat.JSON_PATCH:
        return validate_json_patch(document)
    interaction = request.interaction
    if interaction in (Interaction.BATCH, Interaction.TRANSACTION):
        return validate_bundle(document)
    if interaction is Interaction.PATCH:
        return validate_resource(document, expected_type="Parameters")
    expected_id = request.id if interaction is Interaction.UPDATE and not request.conditional else None
    return validate_resource(document, expected_type=_expected_type(request), expected_id=expected_id)


def _expected_type(request: FhirRequest) -> str | None:
    if request.interaction in (Interaction.CREATE, Interaction.UPDATE):
        return request.resource_type
    if request.interaction in (Interaction.BATCH, Interaction.TRANSACTION):
        return "Bundle"
    return None


def _format_of(request: FhirRequest) -> str | None:
    params = request.named("_format")
    return params[0].raw_values[0] if params else None


def _catch(check: Any) -> list[Issue]:
    try:
        check()
    except InputRefused as exc:
        return list(exc.issues)
    return []
