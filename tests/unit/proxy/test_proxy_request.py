from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from phigate.proxy.body import StreamedBody, sendable
from phigate.proxy.breaker import CircuitBreaker
from phigate.proxy.request import UpstreamRequest
from phigate.proxy.target import Target


async def _stream() -> AsyncIterator[bytes]:
    yield b"{}"


@pytest.mark.parametrize(
    ("method", "idempotent"),
    [
        ("GET", True),
        ("HEAD", True),
        ("OPTIONS", True),
        ("PUT", True),
        ("DELETE", True),
        ("POST", False),
        ("PATCH", False),
    ],
)
def test_idempotent_methods(method: str, idempotent: bool) -> None:
    assert UpstreamRequest(method, "/Patient/1").idempotent is idempotent


def test_only_a_bytes_or_empty_body_is_replayable() -> None:
    assert UpstreamRequest("PUT", "/Patient/1", body=b"{}").replayable
    assert UpstreamRequest("GET", "/Patient/1").replayable
    assert not UpstreamRequest("PUT", "/Patient/1", body=_stream()).replayable


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("get", "/Patient", ""),
        ("G ET", "/Patient", ""),
        ("GET", "Patient", ""),
        ("GET", "/Patient\r\nX-Injected: 1", ""),
        ("GET", "/Patient#frag", ""),
        ("GET", "/Patient", "?name=x"),
        ("GET", "/Patient", "name=a b"),
    ],
)
def test_malformed_requests_are_refused(method: str, path: str, query: str) -> None:
    with pytest.raises(ValueError):
        UpstreamRequest(method, path, query)


@pytest.mark.parametrize(
    "header",
    [("X-Evil", "a\r\nX-Injected: 1"), ("Bad Name", "x"), ("", "x"), ("X-Nul", "a\x00b"), ("X:Colon", "x")],
)
def test_headers_that_could_forge_another_header_are_refused(header: tuple[str, str]) -> None:
    with pytest.raises(ValueError):
        UpstreamRequest("GET", "/Patient", headers=[header])


async def test_a_streamed_body_knows_when_it_was_started() -> None:
    body = sendable(_stream())
    assert isinstance(body, StreamedBody) and not body.started
    assert [chunk async for chunk in body] == [b"{}"]
    assert body.started
    assert sendable(b"x") == b"x" and sendable(None) is None


def test_target_url_keeps_path_and_query_encoded_as_given() -> None:
    target = Target("https://ehr.example.org:8443/fhir/R4", CircuitBreaker(1, 1.0, clock=lambda: 0.0))
    url = target.url_for("/Patient", "name=%C3%A9&_count=2")
    assert str(url) == "https://ehr.example.org:8443/fhir/R4/Patient?name=%C3%A9&_count=2"
    assert target.host == "ehr.example.org:8443"
    assert Target("https://ehr.example.org/fhir", target.breaker).host == "ehr.example.org"
