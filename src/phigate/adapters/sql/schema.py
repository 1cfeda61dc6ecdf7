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
    Text,
    UniqueConstraint,
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

vendors = Table(
    "vendors",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

oauth_clients = Table(
    "oauth_clients",
    metadata,
    Column("client_id", String(128), primary_key=True),
    # RESTRICT: a vendor that owns clients cannot be deleted.
    Column(
        "vendor_id", String(64), ForeignKey("vendors.id", ondelete="RESTRICT"), nullable=False, index=True
    ),
    Column("name", String(200), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("auth_method", String(32), nullable=False),
    Column("jwks", Text, nullable=True),  # JSON: public keys only
    Column("jwks_uri", String(2000), nullable=True),
    Column("token_binding", String(16), nullable=False),
    Column("mtls_thumbprint", String(64), nullable=True),
    Column("secret_hash", String(200), nullable=True),  # scrypt hash, never the secret
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("vendor_id", "name"),
)
