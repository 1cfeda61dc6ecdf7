"""Data keys with their wraps by master keys, and encrypted named secrets.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_data_keys"),
        sa.UniqueConstraint("generation", name="uq_data_keys_generation"),
    )
    op.create_table(
        "data_key_wraps",
        sa.Column("data_key_id", sa.String(32), nullable=False),
        sa.Column("kek_id", sa.String(64), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("data_key_id", "kek_id", name="pk_data_key_wraps"),
        sa.ForeignKeyConstraint(
            ["data_key_id"],
            ["data_keys.id"],
            name="fk_data_key_wraps_data_key_id_data_keys",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_data_key_wraps_kek_id", "data_key_wraps", ["kek_id"])
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("data_key_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_secrets"),
        sa.ForeignKeyConstraint(
            ["data_key_id"],
            ["data_keys.id"],
            name="fk_secrets_data_key_id_data_keys",
            ondelete="RESTRICT",
        ),
    )
    op.create_index("ix_secrets_purpose", "secrets", ["purpose"])


def downgrade() -> None:
    op.drop_table("secrets")
    op.drop_table("data_key_wraps")
    op.drop_table("data_keys")
