"""Where the authorisation server's endpoints live, derived once from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from phigate.settings import Settings

TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a path, not a secret
INTROSPECT_PATH = "/oauth2/introspect"
REVOKE_PATH = "/oauth2/revoke"
JWKS_PATH = "/oauth2/jwks"
AUTHORIZE_PATH = "/oauth2/authorize"
USERINFO_PATH = "/oauth2/userinfo"
OIDC_DISCOVERY_PATH = "/.well-known/openid-configuration"
SMART_DISCOVERY_SUFFIX = "/.well-known/smart-configuration"

CLIENT_ASSERTION_ALGORITHMS = frozenset({"RS384", "ES384"})  # SMART Backend Services
DPOP_ALGORITHMS = ("ES256", "ES384", "RS256", "PS256")


@dataclass(frozen=True)
class Endpoints:
    issuer: str
    fhir_bases: tuple[str, ...]  # absolute URLs of every FHIR route: the audience of access tokens

    @classmethod
    def of(cls, settings: Settings) -> Endpoints:
        issuer = settings.issuer
        return cls(issuer, tuple(issuer + route.base for route in settings.routes))

    @property
    def token(self) -> str:
        return self.issuer + TOKEN_PATH

    @property
    def introspection(self) -> str:
        return self.issuer + INTROSPECT_PATH

    @property
    def revocation(self) -> str:
        return self.issuer + REVOKE_PATH

    @property
    def jwks(self) -> str:
        return self.issuer + JWKS_PATH

    @property
    def authorization(self) -> str:
        return self.issuer + AUTHORIZE_PATH

    @property
    def userinfo(self) -> str:
        return self.issuer + USERINFO_PATH
