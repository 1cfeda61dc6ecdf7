"""RFC 6749 4.1.1 authorization requests, checked in the order RFC 9700 asks.

First who and where: the client must be known, active and launchable by people,
and ``redirect_uri`` must equal a registered one exactly. Until both hold,
every error is shown to the person and nothing redirects (no open redirector,
ASVS 10.4.1). After that, errors go back to the app at its redirect URI with
``state`` and ``iss`` (RFC 9207): ``response_type`` other than ``code``
(no implicit grant), a missing ``state``, PKCE missing or ``plain``, an ``aud``
that is not one of the gateway's FHIR bases, an invalid scope, a ``launch``
without the ``launch`` scope or the scope without a ``launch`` (EHR launch).
Whether the launch context exists is the caller's check
(:meth:`phigate.oauth.smart.authorize.AppAuthorization.check`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from phigate.oauth.rfc6749.errors import OAuthError
from phigate.oauth.rfc7636 import challenge_problem
from phigate.policy.scopes import InvalidScope as MalformedScope
from phigate.policy.scopes import ScopeSet

PARAMETERS = ("response_type", "client_id", "redirect_uri", "scope", "state", "aud",
              "code_challenge", "code_challenge_method", "nonce", "launch")  # fmt: skip
MAX_VALUE = 2048


class AuthorizeRefused(OAuthError):
    """An authorization request that cannot go back to the app: shown on a page, never redirected."""

    message = "The app's authorization request is not valid."


class RedirectedError(OAuthError):
    """An authorization error reported to the app at its (verified) redirect URI."""

    def __init__(self, error: str, message: str, request: AuthorizationRequest, issuer: str) -> None:
        super().__init__(message)
        self.error = error
        self.location = request.reply_url({"error": error, "error_description": message}, issuer)


@dataclass(frozen=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    state: str
    scope: str  # as the app asked (parsed, canonical)
    code_challenge: str
    aud: str
    nonce: str | None = None
    launch: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> AuthorizationRequest:
        fields: dict[str, Any] = {name: value.get(name) for name in cls.__dataclass_fields__}
        return cls(**fields)

    def query(self) -> str:
        """The request as the query of ``/oauth2/authorize`` (to come back to it after signing in)."""
        params = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                  "state": self.state, "scope": self.scope, "aud": self.aud,
                  "code_challenge": self.code_challenge, "code_challenge_method": "S256",
                  "nonce": self.nonce, "launch": self.launch}  # fmt: skip
        return urlencode({k: v for k, v in params.items() if v is not None})

    def reply_url(self, values: Mapping[str, str], issuer: str) -> str:
        """The redirect URI with the reply added to its query, plus ``state`` and ``iss`` (RFC 9207)."""
        reply = {**values, "state": self.state, "iss": issuer}
        separator = "&" if "?" in self.redirect_uri else "?"
        return self.redirect_uri + separator + urlencode({k: v for k, v in reply.items() if v})


def single_values(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Each parameter at most once (RFC 6749 3.1) and bounded in size; refused on a page otherwise."""
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise AuthorizeRefused("A parameter appears more than once.")
        if len(value) > MAX_VALUE:
            raise AuthorizeRefused("A parameter is too long.")
        params[name] = value
    return params


def check_request(
    params: Mapping[str, str], registered_uris: tuple[str, ...], fhir_bases: Sequence[str], issuer: str
) -> AuthorizationRequest:
    """The request once every rule holds; :class:`AuthorizeRefused` or :class:`RedirectedError` otherwise.

    ``registered_uris`` is empty for an unknown, disabled or non-launchable client.
    """
    client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
    if not client_id or not registered_uris:
        raise AuthorizeRefused("The app is not registered for sign-in by people, or is disabled.")
    if redirect_uri not in registered_uris:
        raise AuthorizeRefused("The redirect_uri is not one registered for this app (exact match).")
    request = AuthorizationRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        state=params.get("state", ""),
        scope=params.get("scope", ""),
        code_challenge=params.get("code_challenge", ""),
        aud=params.get("aud", ""),
        nonce=params.get("nonce") or None,
        launch=params.get("launch") or None,
    )

    def fail(error: str, message: str) -> RedirectedError:
        return RedirectedError(error, message, request, issuer)

    if params.get("response_type") != "code":
        raise fail("unsupported_response_type", "Only response_type=code is supported.")
    if "request" in params or "request_uri" in params:
        raise fail("request_not_supported", "Request objects are not supported.")
    if not request.state:
        raise fail("invalid_request", "The state parameter is required.")
    problem = challenge_problem(params.get("code_challenge"), params.get("code_challenge_method"))
    if problem is not None:
        raise fail("invalid_request", problem)
    if request.aud not in fhir_bases:
        raise fail("invalid_request", "The aud parameter must be the FHIR base URL of this gateway.")
    try:
        scope = ScopeSet.parse(request.scope)
    except MalformedScope as error:
        raise fail("invalid_scope", error.message) from None
    if not scope:
        raise fail("invalid_scope", "The scope parameter is required.")
    if request.launch is not None and "launch" not in scope.named:
        raise fail("invalid_scope", "An EHR launch (the launch parameter) needs the launch scope.")
    if "launch" in scope.named and request.launch is None:
        raise fail("invalid_scope", "The launch scope needs the launch parameter of an EHR launch.")
    return request
