"""The FHIR REST interactions of the demo EHR, one short handler each.

Handlers raise errors of the one tree (``phigate.errors``); the app renders them as
OperationOutcome. Messages never carry a submitted value.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from phigate.demo.bundles import Page, elements_only, history, searchset
from phigate.demo.capability import capability_statement
from phigate.demo.compartment import PATIENT_LINKS
from phigate.demo.everything import everything
from phigate.demo.query import parse_query
from phigate.demo.responses import (
    FORM_TYPE,
    UnsupportedMediaType,
    fhir_base,
    fhir_response,
    media_type,
    prefers_minimal,
    prefers_strict,
    read_body,
    read_resource,
    valid_id,
    version_headers,
    version_tag,
)
from phigate.demo.search import run_search
from phigate.demo.searchparams import SEARCH_PARAMS
from phigate.demo.store import ResourceGone, ResourceStore, StoredVersion
from phigate.errors import NotFound, RequestError
from phigate.fhir.outcome import operation_outcome

DEFAULT_MAX_BODY = 4 * 1024 * 1024


class Interactions:
    def __init__(self, store: ResourceStore, max_body_bytes: int = DEFAULT_MAX_BODY) -> None:
        self.store = store
        self.max_body_bytes = max_body_bytes

    async def metadata(self, request: Request) -> Response:
        return fhir_response(capability_statement(fhir_base(request)))

    async def read(self, request: Request) -> Response:
        stored = self._live(request)
        headers = version_headers(stored)
        if version_tag(request.headers.get("if-none-match")) == stored.version:
            return Response(status_code=304, headers=headers)
        return fhir_response(stored.body, headers=headers)

    async def vread(self, request: Request) -> Response:
        resource_type, resource_id = self._address(request)
        vid = request.path_params["vid"]
        stored = self.store.vread(resource_type, resource_id, int(vid)) if vid.isdigit() else None
        if stored is None:
            raise NotFound("No such version of this resource.")
        if stored.deleted:
            raise ResourceGone()
        return fhir_response(stored.body, headers=version_headers(stored))

    async def history(self, request: Request) -> Response:
        versions = self.store.history(*self._address(request))
        if not versions:
            raise NotFound("Resource not found.")
        return fhir_response(history(fhir_base(request), versions))

    async def search(self, request: Request) -> Response:
        resource_type = _known_type(request.path_params["type"])
        return self._search(request, resource_type, list(request.query_params.multi_items()))

    async def search_post(self, request: Request) -> Response:
        resource_type = _known_type(request.path_params["type"])
        if media_type(request) != FORM_TYPE:
            raise UnsupportedMediaType("POST _search takes an application/x-www-form-urlencoded body.")
        form = parse_qsl((await read_body(request, self.max_body_bytes)).decode("utf-8", "replace"))
        return self._search(request, resource_type, [*request.query_params.multi_items(), *form])

    async def compartment(self, request: Request) -> Response:
        patient = self._patient(request)
        resource_type = _known_type(request.path_params["target"])
        if resource_type not in PATIENT_LINKS:
            raise NotFound("This resource type is not in the Patient compartment.")
        return self._search(request, resource_type, list(request.query_params.multi_items()), patient.id)

    async def everything(self, request: Request) -> Response:
        patient = self._patient(request)
        params = list(request.query_params.multi_items())
        return fhir_response(everything(self.store, patient, fhir_base(request), str(_url(request)), params))

    async def create(self, request: Request) -> Response:
        resource_type = _known_type(request.path_params["type"])
        resource = await read_resource(request, resource_type, self.max_body_bytes)
        stored = self.store.create(resource)
        return self._written(request, stored, 201)

    async def update(self, request: Request) -> Response:
        resource_type, resource_id = self._address(request)
        resource = await read_resource(request, resource_type, self.max_body_bytes)
        if resource.get("id") != resource_id:
            raise RequestError("The id in the body must match the id in the URL.")
        if_match = version_tag(request.headers.get("if-match"))
        stored, created = self.store.update(resource_type, resource_id, resource, if_match)
        return self._written(request, stored, 201 if created else 200)

    async def delete(self, request: Request) -> Response:
        resource_type, resource_id = self._address(request)
        deleted = self.store.delete(resource_type, resource_id, version_tag(request.headers.get("if-match")))
        if deleted is None:
            raise NotFound("Resource not found.")
        outcome = operation_outcome("informational", "The resource was deleted.", severity="information")
        return fhir_response(outcome, headers={"ETag": deleted.etag})

    # helpers

    def _search(
        self, request: Request, resource_type: str, params: list[tuple[str, str]], patient: str | None = None
    ) -> Response:
        query = parse_query(resource_type, params, strict=prefers_strict(request))
        result = run_search(self.store, query, patient)
        page = Page(_url(request), params, query.offset, query.count, result.total)
        shape = elements_only(query.elements) if query.elements else None
        bundle = searchset(fhir_base(request), page, result.page, result.included, query.ignored, shape)
        return fhir_response(bundle)

    def _written(self, request: Request, stored: StoredVersion, status: int) -> Response:
        headers = version_headers(stored)
        if status == 201:
            headers["Location"] = f"{fhir_base(request)}/{stored.type}/{stored.id}/_history/{stored.version}"
        if prefers_minimal(request):
            return fhir_response(b"", status, headers)
        return fhir_response(stored.body, status, headers)

    def _address(self, request: Request) -> tuple[str, str]:
        resource_type = _known_type(request.path_params["type"])
        resource_id = request.path_params["id"]
        if not valid_id(resource_id):
            raise RequestError("The resource id is not a valid FHIR id.")
        return resource_type, resource_id

    def _live(self, request: Request) -> StoredVersion:
        return self._live_at(*self._address(request))

    def _patient(self, request: Request) -> StoredVersion:
        patient_id = request.path_params["id"]
        if not valid_id(patient_id):
            raise RequestError("The resource id is not a valid FHIR id.")
        return self._live_at("Patient", patient_id)

    def _live_at(self, resource_type: str, resource_id: str) -> StoredVersion:
        stored = self.store.read(resource_type, resource_id)
        if stored is None:
            raise NotFound("Resource not found.")
        if stored.deleted:
            raise ResourceGone()
        return stored


def _known_type(resource_type: str) -> str:
    if resource_type not in SEARCH_PARAMS:
        raise NotFound("This resource type is not supported by this server.")
    return resource_type


def _url(request: Request) -> str:
    """The request URL without its query, as a GET search of the same results would use."""
    below_base = request.url.path.removeprefix(request.scope.get("root_path", ""))
    return (fhir_base(request) + below_base).removesuffix("/_search")

