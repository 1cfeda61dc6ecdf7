from __future__ import annotations

from collections.abc import Callable

from phigate.exchange import Exchange, Reply
from phigate.pipeline.shape import ShapeHeaders

UPSTREAM = "https://ehr.internal:8880/fhir"


def shaped(ex: Exchange, headers: list[tuple[str, str]]) -> dict[str, str]:
    ex.reply = Reply(200, headers, b"{}")
    ShapeHeaders(63072000, (UPSTREAM,))(ex)
    return dict(ex.reply.headers)


def test_identifying_and_unknown_upstream_headers_are_dropped(make_exchange: Callable[..., Exchange]) -> None:
    headers = shaped(
        make_exchange(),
        [
            ("Server", "Apache/2.4.1"),
            ("X-Powered-By", "HAPI FHIR 6.0"),
            ("Set-Cookie", "session=abc"),
            ("Content-Type", "application/fhir+json"),
            ("ETag", 'W/"1"'),
        ],
    )
    assert "server" not in headers and "x-powered-by" not in headers and "set-cookie" not in headers
    assert headers["content-type"] == "application/fhir+json"
    assert headers["etag"] == 'W/"1"'


def test_security_headers_and_hsts_on_https(make_exchange: Callable[..., Exchange]) -> None:
    headers = shaped(make_exchange(), [])
    assert headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["strict-transport-security"].startswith("max-age=63072000")
    assert headers["x-request-id"] == "req-00000001"
    assert "strict-transport-security" not in shaped(make_exchange(scheme="http"), [])


def test_location_is_rewritten_to_the_public_base(make_exchange: Callable[..., Exchange]) -> None:
    headers = shaped(make_exchange(), [("Location", UPSTREAM + "/Patient/9/_history/1")])
    assert headers["location"] == "https://gw.example/fhir/Patient/9/_history/1"


def test_location_to_a_foreign_host_is_dropped_relative_kept(make_exchange: Callable[..., Exchange]) -> None:
    assert "location" not in shaped(make_exchange(), [("Location", "https://elsewhere.example/x")])
    assert "location" not in shaped(make_exchange(), [("Location", UPSTREAM + "evil.example/x")])
    assert shaped(make_exchange(), [("Content-Location", "Patient/9")])["content-location"] == "Patient/9"


def test_an_error_reply_keeps_the_gateways_own_headers(make_exchange: Callable[..., Exchange]) -> None:
    from phigate.errors import AuthenticationRequired
    from phigate.pipeline import error_reply

    ex = make_exchange()
    ex.error = AuthenticationRequired()
    ex.reply = error_reply(ex.error)
    ShapeHeaders(0, (UPSTREAM,))(ex)
    headers = dict(ex.reply.headers)
    assert headers["www-authenticate"].startswith("Bearer")
    assert headers["cache-control"] == "no-store"
