"""EHR launch contexts: the patient (and encounter) an app is launched for, single-use.

Revision ID: 0010
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people_launches",
        sa.Column("launch_hash", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("context", sa.LargeBinary(), nullable=False),  # sealed: it names a patient
        sa.Column("user_id", sa.String(32), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("launch_hash", name="pk_people_launches"),
    )


def downgrade() -> None:
    op.drop_table("people_launches")
