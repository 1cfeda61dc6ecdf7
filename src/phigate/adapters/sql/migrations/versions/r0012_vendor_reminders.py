"""Access reviews read use from the audit trail; reminders and overdue alerts are sent once (issue 9).

- ``audit_events.resource_type``: the resource type of an exchange as a column (filled in for the events
  already stored), and an index on (client_id, recorded) in place of the one on client_id alone, so that
  one client's use over a period is an index range scan;
- ``client_usage`` is dropped: the nodes' in-memory counters it held are replaced by the trail;
- ``vendor_notices``: the reminders and overdue alerts already sent.

Revision ID: 0012
Revises: 0004 (and needs 0003, the audit trail)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0004"
branch_labels = None
depends_on = "0003"

_WHEN = sa.DateTime(timezone=True)
# The stored event is the canonical JSON the hash chain covers; the column is derived from it.
_RESOURCE_TYPE = {
    "sqlite": "substr(json_extract(event, '$.resource_type'), 1, 64)",
    "postgresql": "substr(event::json ->> 'resource_type', 1, 64)",
}


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("resource_type", sa.String(64), nullable=True))
    dialect = op.get_bind().dialect.name
    op.execute(  # the only interpolation is one of the two constant expressions above
        f"UPDATE audit_events SET resource_type = {_RESOURCE_TYPE[dialect]} "  # noqa: S608
        "WHERE kind = 'exchange' AND client_id IS NOT NULL"
    )
    op.create_index("ix_audit_events_client_id_recorded", "audit_events", ["client_id", "recorded"])
    op.drop_index("ix_audit_events_client_id", table_name="audit_events")
    op.drop_table("client_usage")
    op.create_table(
        "vendor_notices",
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("vendor_id", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("sent_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_vendor_notices"),
    )
    op.create_index("ix_vendor_notices_vendor_id", "vendor_notices", ["vendor_id"])


def downgrade() -> None:
    op.drop_table("vendor_notices")
    op.create_table(
        "client_usage",
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("interaction", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("client_id", "resource_type", "interaction", name="pk_client_usage"),
    )
    op.create_index("ix_audit_events_client_id", "audit_events", ["client_id"])
    op.drop_index("ix_audit_events_client_id_recorded", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("resource_type")
