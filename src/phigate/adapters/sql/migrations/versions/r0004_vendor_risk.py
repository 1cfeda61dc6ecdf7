"""Vendor risk: profiles, evidence, agreements, assessments, incidents, events, access reviews, usage.

Revision ID: 0004
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
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
    op.create_table(
        "vendor_profiles",
        sa.Column("vendor_id", sa.String(64), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("contacts", sa.LargeBinary(), nullable=True),
        sa.Column("suspended_reason", sa.Text(), nullable=True),
        sa.Column("suspended_at", _WHEN, nullable=True),
        sa.Column("tokens_revoked_before", _WHEN, nullable=True),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("vendor_id", name="pk_vendor_profiles"),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["vendors.id"], name="fk_vendor_profiles_vendor_id_vendors", ondelete="CASCADE"
        ),
    )
    _owned(
        "vendor_evidence",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("attachment", sa.LargeBinary(), nullable=True),
        sa.Column("attachment_sha256", sa.String(64), nullable=True),
        sa.Column("recorded_at", _WHEN, nullable=False),
        sa.Column("removed_at", _WHEN, nullable=True),
    )
    _owned(
        "vendor_agreements",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=True),
        sa.Column("file_sha256", sa.String(64), nullable=True),
        sa.Column("recorded_at", _WHEN, nullable=False),
        sa.Column("removed_at", _WHEN, nullable=True),
    )
    _owned(
        "vendor_assessments",
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("assessed_at", _WHEN, nullable=False),
    )
    _owned(
        "vendor_incidents",
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("recorded_at", _WHEN, nullable=False),
    )
    op.create_table(
        "vendor_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("vendor_id", sa.String(64), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vendor_events"),
    )
    op.create_index("ix_vendor_events_vendor_id", "vendor_events", ["vendor_id"])
    op.create_table(
        "access_reviews",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("started_at", _WHEN, nullable=False),
        sa.Column("closed_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_access_reviews"),
    )
    op.create_table(
        "client_usage",
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("interaction", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("client_id", "resource_type", "interaction", name="pk_client_usage"),
    )


def downgrade() -> None:
    for table in (
        "client_usage", "access_reviews", "vendor_events", "vendor_incidents", "vendor_assessments",
        "vendor_agreements", "vendor_evidence", "vendor_profiles",
    ):  # fmt: skip
        op.drop_table(table)
