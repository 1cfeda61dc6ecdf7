"""People: users, recovery codes, sessions; codes, refresh tokens, app redirect URIs.

Revision ID: 0005
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "people_users",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("fhir_user", sa.String(100), nullable=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("totp_secret", sa.LargeBinary(), nullable=True),  # sealed by the keyring
        sa.Column("totp_enrolled", sa.Boolean(), nullable=False),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_people_users"),
        sa.UniqueConstraint("username", name="uq_people_users_username"),
    )
    op.create_table(
        "people_recovery_codes",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "code_hash", name="pk_people_recovery_codes"),
        sa.ForeignKeyConstraint(["user_id"], ["people_users.user_id"],
                                name="fk_people_recovery_codes_user_id_people_users", ondelete="CASCADE"),
    )  # fmt: skip
    op.create_table(
        "people_sessions",
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("auth_time", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.Column("amr", sa.String(64), nullable=False),
        sa.Column("ended", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("session_hash", name="pk_people_sessions"),
        sa.ForeignKeyConstraint(["user_id"], ["people_users.user_id"],
                                name="fk_people_sessions_user_id_people_users", ondelete="CASCADE"),
    )  # fmt: skip
    op.create_index("ix_people_sessions_user_id", "people_sessions", ["user_id"])
    op.create_table(
        "oauth_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),  # JSON: the approval and the PKCE challenge
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.Column("family_id", sa.String(32), nullable=True),
        sa.Column("access_jti", sa.String(64), nullable=True),
        sa.Column("access_exp", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name="pk_oauth_codes"),
    )
    op.create_index("ix_oauth_codes_expires_at", "oauth_codes", ["expires_at"])
    op.create_table(
        "oauth_refresh_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("family_id", sa.String(32), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),  # JSON: the approval
        sa.Column("family_started_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("access_jti", sa.String(64), nullable=False),
        sa.Column("access_exp", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_oauth_refresh_tokens"),
    )
    op.create_index("ix_oauth_refresh_tokens_family_id", "oauth_refresh_tokens", ["family_id"])
    op.create_index("ix_oauth_refresh_tokens_user_id", "oauth_refresh_tokens", ["user_id"])
    op.create_table(
        "oauth_app_redirects",
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("redirect_uris", sa.Text(), nullable=False),  # JSON list, compared by exact string
        sa.PrimaryKeyConstraint("client_id", name="pk_oauth_app_redirects"),
        sa.ForeignKeyConstraint(["client_id"], ["oauth_clients.client_id"],
                                name="fk_oauth_app_redirects_client_id_oauth_clients", ondelete="CASCADE"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("oauth_app_redirects")
    op.drop_table("oauth_refresh_tokens")
    op.drop_table("oauth_codes")
    op.drop_table("people_sessions")
    op.drop_table("people_recovery_codes")
    op.drop_table("people_users")
