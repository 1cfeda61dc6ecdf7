"""People: WebAuthn credentials (security keys, platform authenticators) as second factors.

Revision ID: 0009
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0005"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webauthn_credentials",
        sa.Column("credential_id", sa.String(1366), nullable=False),  # base64url of at most 1023 bytes
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),  # COSE_Key: public, not sealed
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", sa.String(200), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("last_used_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("credential_id", name="pk_webauthn_credentials"),
        sa.ForeignKeyConstraint(["user_id"], ["people_users.user_id"],
                                name="fk_webauthn_credentials_user_id_people_users", ondelete="CASCADE"),
    )  # fmt: skip
    op.create_index("ix_webauthn_credentials_user_id", "webauthn_credentials", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_webauthn_credentials_user_id", table_name="webauthn_credentials")
    op.drop_table("webauthn_credentials")
