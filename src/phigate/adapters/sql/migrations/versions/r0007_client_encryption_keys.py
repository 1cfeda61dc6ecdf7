"""Response encryption keys per OAuth client (issue 7): public JWKs the gateway encrypts to.

Revision ID: 0007
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("oauth_clients", sa.Column("encryption_jwks", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_clients") as batch:  # SQLite rebuilds the table to drop a column
        batch.drop_column("encryption_jwks")
