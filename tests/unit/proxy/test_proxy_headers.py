from __future__ import annotations

from phigate.proxy.headers import HOP_BY_HOP, strip_hop_by_hop, upstream_request_headers


def test_every_hop_by_hop_header_is_stripped() -> None:
    names = [
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
    ]
    headers = [(name, "x") for name in names] + [("Content-Type", "application/fhir+json")]
    assert strip_hop_by_hop(headers) == [("Content-Type", "application/fhir+json")]
    assert {n.lower() for n in names} <= HOP_BY_HOP


def test_headers_named_by_connection_are_stripped_case_insensitively() -> None:
    headers = [
        ("connection", "close"),
        ("CONNECTION", " X-Internal-Route ,x-debug"),
        ("x-internal-route", "node-3"),
        ("X-Debug", "1"),
        ("ETag", 'W/"2"'),
    ]
    assert strip_hop_by_hop(headers) == [("ETag", 'W/"2"')]


def test_end_to_end_headers_keep_their_order_and_repeats() -> None:
    headers = [
        ("Set-Cookie", "a=1"),
        ("Upgrade", "h2c"),
        ("Set-Cookie", "b=2"),
        ("Location", "/fhir/Patient/1"),
    ]
    assert strip_hop_by_hop(headers) == [
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("Location", "/fhir/Patient/1"),
    ]


def test_the_upstream_host_replaces_the_callers() -> None:
    sent = upstream_request_headers(
        [("Host", "gateway.example"), ("Accept", "application/fhir+json"), ("Expect", "100-continue")],
        host="ehr.internal:8443",
        keep_content_length=False,
    )
    assert sent == [("Host", "ehr.internal:8443"), ("Accept", "application/fhir+json")]


def test_content_length_is_kept_only_for_a_streamed_body() -> None:
    headers = [("Content-Length", "12"), ("TE", "trailers")]
    assert upstream_request_headers(headers, "ehr", keep_content_length=True) == [
        ("Host", "ehr"),
        ("Content-Length", "12"),
    ]
    assert upstream_request_headers(headers, "ehr", keep_content_length=False) == [("Host", "ehr")]
