"""Emergency access (break-glass) records and their review by a security officer.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people_break_glass",
        sa.Column("record_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),  # no foreign key: the record outlives the user
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("reason", sa.LargeBinary(), nullable=False),  # sealed by the keyring: it may name a patient
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("closed_by", sa.String(32), nullable=True),
        sa.Column("closed_at", sa.Float(), nullable=True),
        sa.Column("note", sa.LargeBinary(), nullable=True),  # sealed too
        sa.PrimaryKeyConstraint("record_id", name="pk_people_break_glass"),
    )


def downgrade() -> None:
    op.drop_table("people_break_glass")
