"""The audit trail's forwarding cursors, legal holds and signed purge marks (issue 8, follow-up).

Revision ID: 0008
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_cursors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("node", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", "node", name="pk_audit_cursors"),
    )
    op.create_table(
        "audit_holds",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("patient", sa.String(64), nullable=True),
        sa.Column("client_id", sa.String(128), nullable=True),
        sa.Column("since", sa.Float(), nullable=True),
        sa.Column("until", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_holds"),
    )
    op.create_table(
        "audit_purges",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("node", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("kept", sa.Text(), nullable=False),
        sa.Column("removed", sa.BigInteger(), nullable=False),
        sa.Column("cutoff", sa.Float(), nullable=False),
        sa.Column("signed_at", sa.Float(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_purges"),
    )
    op.create_index("ix_audit_purges_node", "audit_purges", ["node"])


def downgrade() -> None:
    op.drop_index("ix_audit_purges_node", table_name="audit_purges")
    op.drop_table("audit_purges")
    op.drop_table("audit_holds")
    op.drop_table("audit_cursors")
