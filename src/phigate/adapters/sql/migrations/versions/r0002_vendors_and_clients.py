"""Vendors and their OAuth clients.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vendors",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vendors"),
    )
    op.create_table(
        "oauth_clients",
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("vendor_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("auth_method", sa.String(32), nullable=False),
        sa.Column("jwks", sa.Text(), nullable=True),
        sa.Column("jwks_uri", sa.String(2000), nullable=True),
        sa.Column("token_binding", sa.String(16), nullable=False),
        sa.Column("mtls_thumbprint", sa.String(64), nullable=True),
        sa.Column("secret_hash", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name="pk_oauth_clients"),
        sa.ForeignKeyConstraint(
            ["vendor_id"],
            ["vendors.id"],
            name="fk_oauth_clients_vendor_id_vendors",
            ondelete="RESTRICT",
        ),
        sa.UniqueConstraint("vendor_id", "name", name="uq_oauth_clients_vendor_id_name"),
    )
    op.create_index("ix_oauth_clients_vendor_id", "oauth_clients", ["vendor_id"])


def downgrade() -> None:
    op.drop_table("oauth_clients")
    op.drop_table("vendors")
