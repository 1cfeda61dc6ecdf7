"""The tables of the durable store, as SQLAlchemy Core metadata.

The schema itself is created and changed only by the Alembic migrations in
``migrations/versions``; these definitions are for queries. A later feature adds
its tables here (or in its own module on the same ``metadata``) and a new
migration revision.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

# Named constraints so that later migrations can alter them on every backend.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

VERSION_TABLE = "phigate_schema_version"

data_keys = Table(
    "data_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("generation", Integer, nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

data_key_wraps = Table(
    "data_key_wraps",
    metadata,
    Column("data_key_id", String(32), ForeignKey("data_keys.id", ondelete="CASCADE"), primary_key=True),
    Column("kek_id", String(64), primary_key=True, index=True),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

secrets = Table(
    "secrets",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("purpose", String(64), nullable=False, index=True),
    Column("ciphertext", LargeBinary, nullable=False),
    # RESTRICT: a data key that still seals a secret cannot be deleted.
    Column("data_key_id", String(32), ForeignKey("data_keys.id", ondelete="RESTRICT"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
