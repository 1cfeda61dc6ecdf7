"""One node's people side, assembled from its settings and services (called by :class:`Node`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from phigate.adapters.memory_counters import open_attempt_counters
from phigate.adapters.sql.break_glass import SqlBreakGlass
from phigate.adapters.sql.launches import SqlLaunches
from phigate.adapters.sql.people import SqlApps, SqlGrants, SqlSessions, SqlUsers
from phigate.asgi.pages.patients import PatientDirectory
from phigate.asgi.pages.routes import PeoplePages
from phigate.asgi.pages.webauthn import SecurityKeyPages, security_keys
from phigate.asgi.services import Services
from phigate.monitor.detectors import Alert
from phigate.oauth.endpoints import Endpoints
from phigate.oauth.flow import FlowSeal
from phigate.oauth.rfc6749.authorization_code import AuthorizationCodeGrant
from phigate.oauth.rfc6749.refresh import RefreshTokenGrant
from phigate.oauth.rfc7523 import AssertionAuthenticator
from phigate.oauth.rfc9068 import AccessTokens
from phigate.oauth.signin import SignIn
from phigate.oauth.smart.authorize import AppAuthorization
from phigate.oauth.smart.break_glass import EmergencyAccess
from phigate.oauth.smart.ehr_launch import AuditSink, EhrLaunches
from phigate.oauth.smart.launch import LaunchTokens, Revoker
from phigate.people.access import RolePolicy
from phigate.people.attempts import AttemptPolicy
from phigate.people.break_glass import EmergencyPolicy
from phigate.people.sessions import SessionPolicy
from phigate.proxy import UpstreamPool
from phigate.settings import Settings


@dataclass(frozen=True)
class PeopleSide:
    launch: LaunchTokens
    pages: PeoplePages
    users: SqlUsers
    grants: SqlGrants
    revoker: Revoker
    break_glass: SqlBreakGlass
    ehr_launches: EhrLaunches


def people_side(
    settings: Settings,
    services: Services,
    endpoints: Endpoints,
    tokens: AccessTokens,
    authenticator: AssertionAuthenticator,
    alerts: Callable[[Alert], None] | None = None,
    audit: Callable[..., None] | None = None,
    upstreams: Mapping[str, UpstreamPool] | None = None,
    launch_audit: AuditSink | None = None,
) -> PeopleSide:
    """``alerts`` raises an alert on the node's desk (each break-glass use); ``audit`` records sign-ins.

    ``upstreams``: the node's upstream pools by name; the patient picker searches the one behind each route.
    ``launch_audit`` records each EHR launch started through the admin API.
    """
    people = settings.people
    users, grants = SqlUsers(services.db, services.keyring), SqlGrants(services.db)
    revoker = Revoker(grants, services.shared.revocations)
    codes = AuthorizationCodeGrant(grants, people.code_seconds, revoker)
    refresh = RefreshTokenGrant(grants, people.refresh_seconds, revoker)
    launch = LaunchTokens(
        codes,
        refresh,
        grants,
        tokens,
        services.clients,
        authenticator,
        users,
        endpoints.token,
        emergency_seconds=people.break_glass.token_seconds,
    )
    roles = RolePolicy.from_settings(people)
    attempts = AttemptPolicy(
        backoff_after=people.backoff_after,
        lock_after=people.lock_after,
        max_delay=people.max_backoff_seconds,
        address_backoff_after=people.address_backoff_after,
    )
    sessions = SessionPolicy(people.session_idle_seconds, people.session_absolute_seconds)
    keys = security_keys(people.webauthn, endpoints.issuer, services.signing_keys, users,
                         services.shared.replay_cache)  # fmt: skip
    signin = SignIn(users, SqlSessions(services.db), open_attempt_counters(services.shared), attempts, roles,
                    sessions, audit=audit, keys=keys)  # fmt: skip
    flows = FlowSeal(services.signing_keys, endpoints.issuer, people.flow_seconds)
    launches = SqlLaunches(services.db, services.keyring)
    apps = SqlApps(services.db)
    authorization = AppAuthorization(services.clients, apps, roles, codes, endpoints, launches)
    routes = zip(endpoints.fhir_bases, settings.routes, strict=True)
    by_base = {base: upstreams[route.upstream] for base, route in routes} if upstreams else {}
    break_glass = SqlBreakGlass(services.db, services.keyring)
    emergency = EmergencyAccess(
        authorization, EmergencyPolicy.from_settings(people.break_glass), break_glass, alerts
    )
    pages = PeoplePages(
        authorization=authorization,
        signin=signin,
        users=users,
        flows=flows,
        tokens=tokens,
        audiences=frozenset(endpoints.fhir_bases),
        revocations=services.shared.revocations,
        totp_issuer=people.totp_issuer,
        session_seconds=people.session_absolute_seconds,
        emergency=emergency,
        revoke_user=revoker.user,
        patients=PatientDirectory(by_base) if by_base else None,
        keys=SecurityKeyPages(signin, keys, users, flows, people.session_absolute_seconds) if keys else None,
    )
    ehr_launches = EhrLaunches(services.clients, apps, users, launches, endpoints, people.launch_seconds,
                               launch_audit)  # fmt: skip
    return PeopleSide(launch, pages, users, grants, revoker, break_glass, ehr_launches)
