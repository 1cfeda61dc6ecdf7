"""``phigate user``: people who sign in (clinicians, patients, staff) and the apps they launch.

A TOTP secret and recovery codes are printed once, when made, and never again
(the store keeps the secret sealed and only hashes of the codes). Security keys
(WebAuthn) are enrolled by the person on the enrolment page; ``show`` lists
them by name and dates, never their key material. Disabling a user ends their
sessions and revokes their refresh tokens at once; their access tokens stop on
every node when the shared state is Redis (else within their short lifetime).
"""

from __future__ import annotations

import getpass
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from phigate.adapters.shared_state import open_shared_state
from phigate.adapters.sql import Database
from phigate.adapters.sql.break_glass import SqlBreakGlass
from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.adapters.sql.people import SqlApps, SqlGrants, SqlSessions, SqlUsers
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.cli.client_registration import admit_new_client
from phigate.cli.output import emit
from phigate.cli.store import migrated_database, open_keyring, run_with_settings
from phigate.cli.vendor_registry import register_vendor, required_vendor
from phigate.oauth.mfa import totp
from phigate.people.break_glass import BreakGlass, BreakGlassStore, check_note, check_reviewer
from phigate.people.errors import UnknownBreakGlass, UnknownUser
from phigate.people.passwords import hash_password
from phigate.people.roles import Role
from phigate.people.security_keys import SecurityKey
from phigate.people.users import User, UserStatus, check_username
from phigate.settings import ResolvedSettings
from phigate.types import ClientId, VendorId
from phigate.vendors.clients import OAuthClient, new_client

user_app = typer.Typer(no_args_is_help=True, help="People who sign in, and the apps they launch.")
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The phigate.yaml to use.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@dataclass(frozen=True)
class Enrolment:
    """A TOTP factor made for a user: shown once."""

    secret: str
    uri: str
    recovery_codes: tuple[str, ...]


async def add_user(
    users: SqlUsers,
    username: str,
    role: Role,
    display_name: str,
    password: str,
    *,
    fhir_user: str | None = None,
    with_totp: bool = False,
    totp_issuer: str = "phigate",
) -> tuple[User, Enrolment | None]:
    now = datetime.now(UTC)
    user = User(
        user_id=secrets.token_hex(8),
        username=check_username(username),
        display_name=display_name,
        role=role,
        fhir_user=fhir_user,
        password_hash=hash_password(password),
        created_at=now,
        updated_at=now,
    )
    await users.add(user)
    if not with_totp:
        return user, None
    enrolment = await enrol_totp(users, user, totp_issuer)
    return await users.confirm_totp(user.user_id), enrolment


async def enrol_totp(users: SqlUsers, user: User, issuer: str) -> Enrolment:
    secret, codes = totp.new_secret(), totp.new_recovery_codes()
    await users.set_totp(user.user_id, secret, tuple(totp.recovery_hash(code) for code in codes))
    return Enrolment(secret, totp.provisioning_uri(secret, user.username, issuer), codes)


async def register_app(
    db: Database, vendor_id: VendorId, name: str, scopes: str, redirect_uris: tuple[str, ...], client_id: str
) -> OAuthClient:
    """A public app (SMART ``client-public``) of an existing vendor, with its redirect URIs."""
    await required_vendor(db, vendor_id)
    client = new_client(vendor_id=vendor_id, name=name, scopes=scopes, now=datetime.now(UTC),
                        client_id=client_id, public=True)  # fmt: skip
    await SqlClientRegistry(db).add(client)
    await SqlApps(db).register(client.client_id, redirect_uris)
    return client


@asynccontextmanager
async def _users(resolved: ResolvedSettings) -> AsyncIterator[tuple[Database, SqlUsers]]:
    async with migrated_database(resolved) as db:
        keyring = await open_keyring(db, resolved)
        yield db, SqlUsers(db, keyring)


@asynccontextmanager
async def _review(resolved: ResolvedSettings) -> AsyncIterator[tuple[SqlBreakGlass, SqlUsers]]:
    async with migrated_database(resolved) as db:
        keyring = await open_keyring(db, resolved)
        yield SqlBreakGlass(db, keyring), SqlUsers(db, keyring)


async def _by_name(users: SqlUsers, username: str) -> User:
    user = await users.by_username(username.strip().lower())
    if user is None:
        raise UnknownUser(f"No user '{username[:64]}'.")
    return user


@user_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Sign-in name: lower-case letters, digits, . _ - @.")],
    role: Annotated[Role, typer.Option(help="The person's role.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    fhir_user: Annotated[
        str | None, typer.Option(help="Practitioner/<id> (clinician) or Patient/<id>.")
    ] = None,
    password_file: Annotated[Path | None, typer.Option(help="Read the password from this file.")] = None,
    with_totp: Annotated[
        bool, typer.Option("--totp", help="Enrol a TOTP factor now (printed once).")
    ] = False,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Add a person; the password is prompted for unless --password-file is given."""
    password = password_file.read_text().strip() if password_file else getpass.getpass("Password: ")

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with _users(resolved) as (_, users):
            issuer = resolved.settings.people.totp_issuer
            user, enrolment = await add_user(users, username, role, name, password, fhir_user=fhir_user,
                                             with_totp=with_totp, totp_issuer=issuer)  # fmt: skip
        view = _view(user)
        if enrolment is not None:
            view |= {"totp_secret": enrolment.secret, "totp_uri": enrolment.uri,
                     "recovery_codes": list(enrolment.recovery_codes)}  # fmt: skip
        return view

    emit(run_with_settings(config, work), as_json, _render)


@user_app.command("list")
def list_users(config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False) -> None:
    """Every user, by username."""

    async def work(resolved: ResolvedSettings) -> list[dict[str, Any]]:
        async with _users(resolved) as (_, users):
            return [_view(user) for user in await users.list()]

    emit(run_with_settings(config, work), as_json, lambda rows: "\n".join(_line(row) for row in rows))


@user_app.command("show")
def show(username: str, config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False) -> None:
    """One user, with their security keys (name, created, last used)."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with _users(resolved) as (_, users):
            user = await _by_name(users, username)
            keys = await users.security_keys(user.user_id)
            return _view(user) | {"security_keys": [_key_view(key) for key in keys]}

    emit(run_with_settings(config, work), as_json, _render)


@user_app.command("disable")
def disable(username: str, config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False) -> None:
    """Disable a user: sessions end, refresh tokens die, access tokens are revoked."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with _users(resolved) as (db, users):
            user = await users.set_status((await _by_name(users, username)).user_id, UserStatus.disabled)
            await SqlSessions(db).end_all(user.user_id)
            issued = await SqlGrants(db).revoke_user(user.user_id)
            shared = open_shared_state(resolved.shared_state_url.get_secret_value(),
                                       namespace=resolved.settings.shared_state.namespace)  # fmt: skip
            await shared.start()
            try:
                for each in issued:
                    await shared.revocations.revoke(each.jti, each.expires_at)
            finally:
                await shared.close()
        return _view(user) | {"tokens_revoked": len(issued)}

    emit(run_with_settings(config, work), as_json, _render)


@user_app.command("enable")
def enable(username: str, config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False) -> None:
    """Enable a disabled user again."""
    _set(config, username, as_json, status=UserStatus.active)


@user_app.command("unlock")
def unlock(username: str, config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False) -> None:
    """Unlock a user locked after too many failed sign-ins."""
    _set(config, username, as_json, locked=False)


@user_app.command("reset-mfa")
def reset_mfa(
    username: str, config: ConfigOption = Path("phigate.yaml"), as_json: JsonOption = False
) -> None:
    """Remove the user's TOTP factor, recovery codes and security keys; they enrol again at next sign-in."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with _users(resolved) as (db, users):
            user = await users.set_totp((await _by_name(users, username)).user_id, None, ())
            removed = await users.remove_security_keys(user.user_id)
            await SqlSessions(db).end_all(user.user_id)
        return _view(user) | {"security_keys_removed": removed}

    emit(run_with_settings(config, work), as_json, _render)


@user_app.command("register-app")
def register_app_command(
    client_id: Annotated[str, typer.Argument(help="The app's client id.")],
    vendor: Annotated[str, typer.Option(help="The vendor that publishes the app.")],
    name: Annotated[str, typer.Option(help="The app's name, shown on the consent page.")],
    scopes: Annotated[str, typer.Option(help="The most the app may ever be granted (SMART scopes).")],
    redirect_uri: Annotated[list[str], typer.Option(help="A redirect URI (exact match); repeat for more.")],
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Register a public app (SMART client-public) that people launch."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with migrated_database(resolved) as db:
            await admit_new_client(db, resolved, VendorId(vendor))
            app = await register_app(db, VendorId(vendor), name, scopes, tuple(redirect_uri), client_id)
        return {"client_id": app.client_id, "scopes": app.scopes, "redirect_uris": list(redirect_uri)}

    emit(run_with_settings(config, work), as_json, lambda v: f"registered app {v['client_id']}")


def _set(config: Path, username: str, as_json: bool, **change: Any) -> None:
    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with _users(resolved) as (_, users):
            user = await _by_name(users, username)
            if "status" in change:
                user = await users.set_status(user.user_id, change["status"])
            if "locked" in change:
                user = await users.set_locked(user.user_id, change["locked"])
            return _view(user)

    emit(run_with_settings(config, work), as_json, _render)


def _view(user: User) -> dict[str, Any]:
    return {"user_id": user.user_id, "username": user.username, "name": user.display_name,
            "role": user.role.value, "fhir_user": user.fhir_user, "status": user.status.value,
            "locked": user.locked, "totp": user.totp_enrolled}  # fmt: skip


def _key_view(key: SecurityKey) -> dict[str, Any]:
    """A security key as an administrator sees it: never the credential id or public key."""
    used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else None
    return {
        "name": key.name,
        "created_at": key.created_at.isoformat(timespec="seconds"),
        "last_used_at": used,
    }


def _line(view: dict[str, Any]) -> str:
    flags = " locked" if view["locked"] else ""
    return f"{view['username']:<32} {view['role']:<17} {view['status']:<9} {view['fhir_user'] or '-'}{flags}"


def _render(view: dict[str, Any]) -> str:
    lines = [
        f"  {key}: {value}" for key, value in view.items() if key not in ("recovery_codes", "security_keys")
    ]
    if "security_keys" in view:
        lines.append(f"  security keys: {len(view['security_keys']) or 'none'}")
        lines += [f"    {k['name']} (created {k['created_at']}, last used {k['last_used_at'] or 'never'})"
                  for k in view["security_keys"]]  # fmt: skip
    if "recovery_codes" in view:
        lines.append("  recovery codes (each works once; shown only now):")
        lines += [f"    {code}" for code in view["recovery_codes"]]
    return "\n".join(lines)


# --- emergency access review (break-glass, HIPAA 164.312(a)(2)(ii)) ---------------------------------------

break_glass_app = typer.Typer(
    no_args_is_help=True, help="Emergency access uses, reviewed by a security officer."
)
user_app.add_typer(break_glass_app, name="break-glass")


async def close_break_glass(
    store: BreakGlassStore, users: SqlUsers, record_id: str, officer: str, note: str, now: float
) -> BreakGlass:
    """Close an open record as ``officer`` (a security officer's username), with a review note."""
    reviewer = check_reviewer(await users.by_username(officer.strip().lower()))
    text = check_note(note)
    closed = await store.close(record_id[:32], reviewer.user_id, text, now)
    if closed is None:
        raise UnknownBreakGlass()
    return closed


@break_glass_app.command("list")
def list_break_glass(
    include_closed: Annotated[bool, typer.Option("--all", help="Closed records too.")] = False,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """The review queue: open emergency access records, oldest first."""

    async def work(resolved: ResolvedSettings) -> list[dict[str, Any]]:
        async with _review(resolved) as (store, _):
            return [_break_glass_view(each) for each in await store.list(open_only=not include_closed)]

    emit(run_with_settings(config, work), as_json, lambda rows: "\n\n".join(_render(row) for row in rows))


@break_glass_app.command("close")
def close_break_glass_command(
    record_id: Annotated[str, typer.Argument(help="The record's id (bg-...).")],
    note: Annotated[str, typer.Option(help="The review's finding.")],
    officer: Annotated[str, typer.Option(help="Username of the security officer closing it.")],
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Close a review: the officer's finding is kept with the record."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with _review(resolved) as (store, users):
            closed = await close_break_glass(store, users, record_id, officer, note, time.time())
            return _break_glass_view(closed)

    emit(run_with_settings(config, work), as_json, _render)


def _break_glass_view(record: BreakGlass) -> dict[str, Any]:
    def when(at: float | None) -> str | None:
        return None if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")

    return {"id": record.record_id, "status": record.status.value, "user_id": record.user_id,
            "client_id": record.client_id, "scope": record.scope, "reason": record.reason,
            "started_at": when(record.started_at), "expires_at": when(record.expires_at),
            "closed_by": record.closed_by, "closed_at": when(record.closed_at),
            "note": record.note}  # fmt: skip


# --- the demo's people (used by `phigate demo`) ----------------------------------------------------------

DEMO_APP = "demo-chart"
DEMO_REDIRECT = "http://127.0.0.1:8765/callback"  # a native app's loopback redirect (RFC 8252)
DEMO_APP_SCOPES = "openid fhirUser launch launch/patient offline_access patient/*.rs user/*.rs"
DEMO_PASSWORD = "demo-password-1234"  # noqa: S105 - printed by the demo, for loopback use only
DEMO_PEOPLE = (
    ("dr.demo", Role.clinician, "Dr Dana Demo", "Practitioner/prac-01"),
    ("canary", Role.patient, "Canary Testpatient", "Patient/pat-canary"),
)


async def seed_demo_people(resolved: ResolvedSettings) -> list[str]:
    """A clinician (TOTP), a patient user and a public demo app, made once; what to print about them.

    The clinician's TOTP secret and recovery codes are in the lines only on the run that made them.
    """
    lines: list[str] = []
    async with _users(resolved) as (db, users):
        if await SqlClientRegistry(db).get(ClientId(DEMO_APP)) is None:
            if await SqlVendorRegistry(db).get(VendorId("demo-apps")) is None:
                await register_vendor(db, "Demo Apps", "demo-apps")
            await register_app(
                db, VendorId("demo-apps"), "Demo Chart", DEMO_APP_SCOPES, (DEMO_REDIRECT,), DEMO_APP
            )
        for username, role, name, fhir_user in DEMO_PEOPLE:
            if await users.by_username(username) is not None:
                continue
            mfa = role is Role.clinician
            _, enrolment = await add_user(users, username, role, name, DEMO_PASSWORD, fhir_user=fhir_user,
                                          with_totp=mfa, totp_issuer="phigate demo")  # fmt: skip
            if enrolment is not None:
                codes = " ".join(enrolment.recovery_codes[:3])
                lines += [f"  {username}'s TOTP secret (shown once): {enrolment.secret}",
                          f"  {username}'s first recovery codes (shown once): {codes}"]  # fmt: skip
    return lines
