"""People and their apps' grants in the durable store: users, second factors, sessions, codes, refresh tokens.

TOTP secrets are sealed by the keyring, bound to the user's row; WebAuthn
public keys are public and stored as they came. Every single-use step (a TOTP
time step, a recovery code, a security key's counter, an authorization code, a
refresh token) is one conditional ``UPDATE`` whose row count says whether this
call was first, so two nodes never both accept one value.
"""

from __future__ import annotations

import builtins
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from phigate.adapters.sql.database import Database, as_utc
from phigate.adapters.sql.schema import (
    oauth_app_redirects,
    oauth_clients,
    oauth_codes,
    oauth_refresh_tokens,
    people_recovery_codes,
    people_sessions,
    people_users,
    webauthn_credentials,
)
from phigate.people.apps import check_redirect_uris
from phigate.people.errors import UnknownUser, UserError
from phigate.people.grants import Approval, CodeGrant, Issued, Redemption, RefreshGrant
from phigate.people.roles import Role
from phigate.people.security_keys import SecurityKey
from phigate.people.sessions import Session
from phigate.people.users import User, UserStatus
from phigate.ports import DataCipher


def _context(user_id: str) -> bytes:
    return f"people_users:totp_secret:{user_id}".encode()


class SqlUsers:
    def __init__(self, db: Database, cipher: DataCipher) -> None:
        self._db = db
        self._cipher = cipher

    async def add(self, user: User) -> None:
        try:
            async with self._db.begin() as connection:
                await connection.execute(insert(people_users).values(_user_row(user)))
        except IntegrityError:
            raise UserError("username", f"'{user.username}' is already taken") from None

    async def get(self, user_id: str) -> User | None:
        return await self._one(people_users.c.user_id == user_id)

    async def by_username(self, username: str) -> User | None:
        return await self._one(people_users.c.username == username)

    async def list(self) -> builtins.list[User]:
        async with self._db.connect() as connection:
            rows = (await connection.execute(select(people_users).order_by(people_users.c.username))).all()
        return [_user(row) for row in rows]

    async def set_status(self, user_id: str, status: UserStatus) -> User:
        user = await self._update(user_id, status=status.value)
        if status is UserStatus.disabled:
            async with self._db.begin() as connection:
                await connection.execute(
                    update(people_sessions).where(people_sessions.c.user_id == user_id).values(ended=True)
                )
        return user

    async def set_locked(self, user_id: str, locked: bool) -> User:
        return await self._update(user_id, locked=locked)

    async def set_password(self, user_id: str, password_hash: str) -> User:
        return await self._update(user_id, password_hash=password_hash)

    async def set_totp(self, user_id: str, secret: str | None, recovery_hashes: tuple[str, ...]) -> User:
        sealed = None if secret is None else await self._cipher.encrypt(secret.encode(), _context(user_id))
        async with self._db.begin() as connection:
            await connection.execute(
                delete(people_recovery_codes).where(people_recovery_codes.c.user_id == user_id)
            )
            if recovery_hashes:
                rows = [{"user_id": user_id, "code_hash": h, "used": False} for h in set(recovery_hashes)]
                await connection.execute(insert(people_recovery_codes), rows)
        return await self._update(user_id, totp_secret=sealed, totp_enrolled=False, totp_last_step=None)

    async def confirm_totp(self, user_id: str) -> User:
        return await self._update(user_id, totp_enrolled=True)

    async def totp_secret(self, user_id: str) -> str | None:
        query = select(people_users.c.totp_secret).where(people_users.c.user_id == user_id)
        async with self._db.connect() as connection:
            sealed = (await connection.execute(query)).scalar_one_or_none()
        if sealed is None:
            return None
        return (await self._cipher.decrypt(sealed, _context(user_id))).decode()

    async def claim_totp_step(self, user_id: str, step: int) -> bool:
        column = people_users.c.totp_last_step
        statement = (
            update(people_users)
            .where(people_users.c.user_id == user_id, or_(column.is_(None), column < step))
            .values(totp_last_step=step)
        )
        async with self._db.begin() as connection:
            return (await connection.execute(statement)).rowcount == 1

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        table = people_recovery_codes
        statement = (
            update(table)
            .where(table.c.user_id == user_id, table.c.code_hash == code_hash, table.c.used.is_(False))
            .values(used=True)
        )
        async with self._db.begin() as connection:
            return (await connection.execute(statement)).rowcount == 1

    async def add_security_key(self, key: SecurityKey) -> bool:
        row = {
            "credential_id": key.credential_id,
            "user_id": key.user_id,
            "public_key": key.public_key,
            "sign_count": key.sign_count,
            "transports": " ".join(key.transports),
            "name": key.name,
            "created_at": key.created_at,
            "last_used_at": key.last_used_at,
        }
        try:
            async with self._db.begin() as connection:
                await connection.execute(insert(webauthn_credentials).values(row))
        except IntegrityError:
            return False  # that credential id is registered already: never re-bound to another user
        return True

    async def security_keys(self, user_id: str) -> builtins.list[SecurityKey]:
        table = webauthn_credentials
        query = select(table).where(table.c.user_id == user_id).order_by(table.c.created_at)
        async with self._db.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_security_key(row) for row in rows]

    async def security_key(self, user_id: str, credential_id: str) -> SecurityKey | None:
        table = webauthn_credentials
        query = select(table).where(table.c.credential_id == credential_id, table.c.user_id == user_id)
        async with self._db.connect() as connection:
            row = (await connection.execute(query)).one_or_none()
        return None if row is None else _security_key(row)

    async def claim_sign_count(
        self, user_id: str, credential_id: str, sign_count: int, used_at: datetime
    ) -> bool:
        column = webauthn_credentials.c.sign_count
        # The rule of phigate.people.security_keys.counter_moved, as one conditional update.
        moved = column == 0 if sign_count == 0 else column < sign_count
        statement = (
            update(webauthn_credentials)
            .where(
                webauthn_credentials.c.credential_id == credential_id,
                webauthn_credentials.c.user_id == user_id,
                moved,
            )
            .values(sign_count=sign_count, last_used_at=used_at)
        )
        async with self._db.begin() as connection:
            return (await connection.execute(statement)).rowcount == 1

    async def remove_security_keys(self, user_id: str) -> int:
        statement = delete(webauthn_credentials).where(webauthn_credentials.c.user_id == user_id)
        async with self._db.begin() as connection:
            return int((await connection.execute(statement)).rowcount)

    async def _one(self, condition: Any) -> User | None:
        async with self._db.connect() as connection:
            row = (await connection.execute(select(people_users).where(condition))).one_or_none()
        return None if row is None else _user(row)

    async def _update(self, user_id: str, **values: Any) -> User:
        statement = update(people_users).where(people_users.c.user_id == user_id)
        async with self._db.begin() as connection:
            result = await connection.execute(statement.values(**values, updated_at=datetime.now(UTC)))
        if result.rowcount != 1:
            raise UnknownUser()
        user = await self.get(user_id)
        assert user is not None
        return user


def _user_row(user: User) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role.value,
        "fhir_user": user.fhir_user,
        "password_hash": user.password_hash,
        "status": user.status.value,
        "locked": user.locked,
        "totp_secret": None,
        "totp_enrolled": False,
        "totp_last_step": None,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def _user(row: Row[tuple[object, ...]]) -> User:
    return User(
        user_id=row.user_id,
        username=row.username,
        display_name=row.display_name,
        role=Role(row.role),
        fhir_user=row.fhir_user,
        password_hash=row.password_hash,
        status=UserStatus(row.status),
        locked=bool(row.locked),
        totp_enrolled=bool(row.totp_enrolled),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def _security_key(row: Row[tuple[object, ...]]) -> SecurityKey:
    return SecurityKey(
        credential_id=row.credential_id,
        user_id=row.user_id,
        public_key=bytes(row.public_key),
        sign_count=int(row.sign_count),
        transports=tuple(row.transports.split()),
        name=row.name,
        created_at=as_utc(row.created_at),
        last_used_at=None if row.last_used_at is None else as_utc(row.last_used_at),
    )


class SqlSessions:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(self, session: Session) -> None:
        row = {
            "session_hash": session.session_hash,
            "user_id": session.user_id,
            "auth_time": session.auth_time,
            "last_seen": session.last_seen,
            "amr": " ".join(session.amr),
            "ended": session.ended,
        }
        async with self._db.begin() as connection:
            await connection.execute(insert(people_sessions).values(row))

    async def get(self, session_hash: str) -> Session | None:
        query = select(people_sessions).where(people_sessions.c.session_hash == session_hash)
        async with self._db.connect() as connection:
            row = (await connection.execute(query)).one_or_none()
        if row is None:
            return None
        return Session(row.session_hash, row.user_id, row.auth_time, row.last_seen, tuple(row.amr.split()),
                       bool(row.ended))  # fmt: skip

    async def touch(self, session_hash: str, now: float) -> None:
        await self._set(people_sessions.c.session_hash == session_hash, last_seen=now)

    async def end(self, session_hash: str) -> None:
        await self._set(people_sessions.c.session_hash == session_hash, ended=True)

    async def end_all(self, user_id: str) -> int:
        return await self._set(
            people_sessions.c.user_id == user_id, people_sessions.c.ended.is_(False), ended=True
        )

    async def _set(self, *conditions: Any, **values: Any) -> int:
        async with self._db.begin() as connection:
            result = await connection.execute(update(people_sessions).where(*conditions).values(**values))
        return int(result.rowcount)


class SqlGrants:
    """:class:`phigate.people.grants.GrantStore` in the durable store."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def save_code(self, grant: CodeGrant) -> None:
        details = {"approval": grant.approval.as_json(), "code_challenge": grant.code_challenge}
        row = {
            "code_hash": grant.code_hash,
            "client_id": grant.approval.client_id,
            "details": json.dumps(details),
            "expires_at": grant.expires_at,
            "used": False,
        }
        async with self._db.begin() as connection:
            # Expired codes are no use to anyone: each new code sweeps them.
            await connection.execute(
                delete(oauth_codes).where(oauth_codes.c.expires_at < grant.expires_at - 3600)
            )
            await connection.execute(insert(oauth_codes).values(row))

    async def redeem_code(self, code_hash: str) -> Redemption[CodeGrant] | None:
        table = oauth_codes
        async with self._db.begin() as connection:
            claimed = await connection.execute(
                update(table).where(table.c.code_hash == code_hash, table.c.used.is_(False)).values(used=True)
            )
            row = (
                await connection.execute(select(table).where(table.c.code_hash == code_hash))
            ).one_or_none()
        if row is None:
            return None
        details = json.loads(row.details)
        grant = CodeGrant(row.code_hash, Approval.from_json(details["approval"]), details["code_challenge"],
                          row.expires_at)  # fmt: skip
        return Redemption(grant, claimed.rowcount == 1)

    async def code_issued(self, code_hash: str, family_id: str | None, issued: Issued) -> None:
        values = {"family_id": family_id, "access_jti": issued.jti, "access_exp": issued.expires_at}
        async with self._db.begin() as connection:
            await connection.execute(
                update(oauth_codes).where(oauth_codes.c.code_hash == code_hash).values(values)
            )

    async def code_tokens(self, code_hash: str) -> tuple[str | None, builtins.list[Issued]]:
        query = select(oauth_codes).where(oauth_codes.c.code_hash == code_hash)
        async with self._db.connect() as connection:
            row = (await connection.execute(query)).one_or_none()
        if row is None or row.access_jti is None:
            return None, []
        return row.family_id, [Issued(row.access_jti, row.access_exp)]

    async def save_refresh(self, grant: RefreshGrant, issued: Issued) -> None:
        approval = grant.approval
        row = {
            "token_hash": grant.token_hash,
            "family_id": grant.family_id,
            "client_id": approval.client_id,
            "user_id": approval.user_id,
            "details": json.dumps(approval.as_json()),
            "family_started_at": grant.family_started_at,
            "expires_at": grant.expires_at,
            "used": False,
            "revoked": False,
            "access_jti": issued.jti,
            "access_exp": issued.expires_at,
        }
        async with self._db.begin() as connection:
            await connection.execute(insert(oauth_refresh_tokens).values(row))

    async def rotate_refresh(self, token_hash: str) -> Redemption[RefreshGrant] | None:
        table = oauth_refresh_tokens
        async with self._db.begin() as connection:
            claimed = await connection.execute(
                update(table)
                .where(table.c.token_hash == token_hash, table.c.used.is_(False), table.c.revoked.is_(False))
                .values(used=True)
            )
            row = (
                await connection.execute(select(table).where(table.c.token_hash == token_hash))
            ).one_or_none()
        if row is None:
            return None
        grant = RefreshGrant(row.token_hash, row.family_id, Approval.from_json(json.loads(row.details)),
                             row.family_started_at, row.expires_at)  # fmt: skip
        if claimed.rowcount != 1 and row.revoked and not row.used:
            return None  # revoked, never used: nothing more to revoke
        return Redemption(grant, claimed.rowcount == 1)

    async def revoke_family(self, family_id: str) -> builtins.list[Issued]:
        return await self._revoke(oauth_refresh_tokens.c.family_id == family_id)

    async def revoke_user(self, user_id: str) -> builtins.list[Issued]:
        return await self._revoke(oauth_refresh_tokens.c.user_id == user_id)

    async def _revoke(self, condition: Any) -> builtins.list[Issued]:
        table = oauth_refresh_tokens
        async with self._db.begin() as connection:
            rows = (
                await connection.execute(select(table.c.access_jti, table.c.access_exp).where(condition))
            ).all()
            await connection.execute(update(table).where(condition).values(revoked=True))
        return [Issued(row.access_jti, row.access_exp) for row in rows]


class SqlApps:
    """:class:`phigate.people.apps.AppRegistry`: redirect URIs beside the client registry."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def redirect_uris(self, client_id: str) -> tuple[str, ...]:
        query = select(oauth_app_redirects.c.redirect_uris).where(
            oauth_app_redirects.c.client_id == client_id
        )
        async with self._db.connect() as connection:
            value = (await connection.execute(query)).scalar_one_or_none()
        return () if value is None else tuple(json.loads(value))

    async def register(self, client_id: str, redirect_uris: tuple[str, ...]) -> None:
        uris = json.dumps(list(check_redirect_uris(redirect_uris)))
        async with self._db.begin() as connection:
            known = select(oauth_clients.c.client_id).where(oauth_clients.c.client_id == client_id)
            if (await connection.execute(known)).one_or_none() is None:
                raise UserError("client_id", f"no client '{client_id}' is registered")
            await connection.execute(
                delete(oauth_app_redirects).where(oauth_app_redirects.c.client_id == client_id)
            )
            await connection.execute(
                insert(oauth_app_redirects).values(client_id=client_id, redirect_uris=uris)
            )
