"""Vendor sub-processors and their pending changes (A.4); offboarding attestations (A.11).

Revision ID: 0011
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0004"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def _owned(name: str, *columns: sa.Column[object]) -> None:
    """A table of vendor records: ``id``, ``vendor_id`` (cascade with the vendor), then ``columns``."""
    op.create_table(
        name,
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("vendor_id", sa.String(64), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["vendors.id"], name=f"fk_{name}_vendor_id_vendors", ondelete="CASCADE"
        ),
    )
    op.create_index(f"ix_{name}_vendor_id", name, ["vendor_id"])


def upgrade() -> None:
    _owned(
        "vendor_subprocessors",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("proposed_at", _WHEN, nullable=False),
        sa.Column("decided_at", _WHEN, nullable=True),
    )
    _owned(
        "vendor_offboardings",
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=True),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("recorded_at", _WHEN, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("vendor_offboardings")
    op.drop_table("vendor_subprocessors")
