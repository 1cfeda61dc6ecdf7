"""The tables of the durable store, as SQLAlchemy Core metadata.

The schema itself is created and changed only by the Alembic migrations in
``migrations/versions``; these definitions are for queries. A later feature adds
its tables here (or in its own module on the same ``metadata``) and a new
migration revision.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
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
    Column("encryption_jwks", Text, nullable=True),  # JSON: public response encryption keys (rev 0007)
    UniqueConstraint("vendor_id", "name"),
)

# -- audit trail (issue 8): append-only events per node chain, their patients, checkpoints, alerts --
_AUDIT_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", _AUDIT_ID, primary_key=True, autoincrement=True),  # insertion order: reorders show
    Column("node", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("recorded", Float, nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("action", String(64), nullable=False),
    Column("client_id", String(128), nullable=True),
    Column("vendor_id", String(64), nullable=True, index=True),
    Column("outcome", String(64), nullable=False),
    Column("event", Text, nullable=False),  # the canonical JSON the hash covers
    Column("resource_type", String(64), nullable=True),  # of an exchange (r0012): evidence of use
    UniqueConstraint("node", "seq"),
    Index("ix_audit_events_client_id_recorded", "client_id", "recorded"),  # a client's events by time
)

audit_event_patients = Table(
    "audit_event_patients",
    metadata,
    Column("node", String(128), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("patient", String(64), primary_key=True, index=True),
    Column("recorded", Float, nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", _AUDIT_ID, primary_key=True, autoincrement=True),
    Column("node", String(128), nullable=False, index=True),
    Column("seq", BigInteger, nullable=False),
    Column("head", String(64), nullable=False),
    Column("signed_at", Float, nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", LargeBinary, nullable=False),
)

audit_alerts = Table(
    "audit_alerts",
    metadata,
    Column("id", _AUDIT_ID, primary_key=True, autoincrement=True),
    Column("dedup_key", String(300), nullable=False, index=True),
    Column("detector", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("client_id", String(128), nullable=True),
    Column("vendor_id", String(64), nullable=True),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("count", Integer, nullable=False),
    Column("explanation", Text, nullable=False),
)

# -- vendor risk (issue 9; migration r0004_vendor_risk) --------------------------------------------------
# Details of each record are a JSON document (its fields are checked by the domain value that reads it);
# columns hold what queries select on. Attachments and contacts are sealed by the keyring.

vendor_profiles = Table(
    "vendor_profiles",
    metadata,
    Column("vendor_id", String(64), ForeignKey("vendors.id", ondelete="CASCADE"), primary_key=True),
    Column("details", Text, nullable=False),  # JSON: legal name, jurisdictions, services, data categories
    Column("contacts", LargeBinary, nullable=True),  # sealed JSON: security and incident contacts
    Column("suspended_reason", Text, nullable=True),
    Column("suspended_at", DateTime(timezone=True), nullable=True),
    Column("tokens_revoked_before", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

vendor_evidence = Table(
    "vendor_evidence",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("vendor_id", String(64), ForeignKey("vendors.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("details", Text, nullable=False),
    Column("attachment", LargeBinary, nullable=True),  # sealed file bytes
    Column("attachment_sha256", String(64), nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("removed_at", DateTime(timezone=True), nullable=True),
)

vendor_agreements = Table(
    "vendor_agreements",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("vendor_id", String(64), ForeignKey("vendors.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("details", Text, nullable=False),
    Column("document", LargeBinary, nullable=True),  # sealed signed document
    Column("file_sha256", String(64), nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("removed_at", DateTime(timezone=True), nullable=True),
)

vendor_assessments = Table(
    "vendor_assessments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("vendor_id", String(64), ForeignKey("vendors.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("band", String(16), nullable=False),
    Column("details", Text, nullable=False),
    Column("assessed_at", DateTime(timezone=True), nullable=False),
)

vendor_incidents = Table(
    "vendor_incidents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("vendor_id", String(64), ForeignKey("vendors.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("details", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

vendor_events = Table(  # the registry's own trail: who changed what, when (no FK: it outlives the vendor)
    "vendor_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("vendor_id", String(64), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("detail", Text, nullable=False),
)

access_reviews = Table(
    "access_reviews",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("details", Text, nullable=False),  # JSON: items (client, scope, usage, flag, decision)
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
)

# Reminders and overdue alerts already sent (r0012): one row per artefact and lead time, or per overdue
# review (``sent_at`` is when it last went out), so that no node and no run sends one twice.
vendor_notices = Table(
    "vendor_notices",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("vendor_id", String(64), nullable=True, index=True),
    Column("kind", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
)

# -- people (issue 4): users, second factors, sessions; codes and refresh tokens of apps --
people_users = Table(
    "people_users",
    metadata,
    Column("user_id", String(32), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("fhir_user", String(100), nullable=True),
    Column("password_hash", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("locked", Boolean, nullable=False),
    Column("totp_secret", LargeBinary, nullable=True),
    Column("totp_enrolled", Boolean, nullable=False),
    Column("totp_last_step", BigInteger, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

people_recovery_codes = Table(
    "people_recovery_codes",
    metadata,
    Column("user_id", String(32), ForeignKey("people_users.user_id", ondelete="CASCADE"), primary_key=True),
    Column("code_hash", String(64), primary_key=True),
    Column("used", Boolean, nullable=False),
)

people_sessions = Table(
    "people_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column(
        "user_id",
        String(32),
        ForeignKey("people_users.user_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("auth_time", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("amr", String(64), nullable=False),
    Column("ended", Boolean, nullable=False),
)

oauth_codes = Table(
    "oauth_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("client_id", String(128), nullable=False),
    Column("details", Text, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
    Column("used", Boolean, nullable=False),
    Column("family_id", String(32), nullable=True),
    Column("access_jti", String(64), nullable=True),
    Column("access_exp", Float, nullable=True),
)

oauth_refresh_tokens = Table(
    "oauth_refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("family_id", String(32), nullable=False, index=True),
    Column("client_id", String(128), nullable=False),
    Column("user_id", String(32), nullable=False, index=True),
    Column("details", Text, nullable=False),
    Column("family_started_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used", Boolean, nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("access_jti", String(64), nullable=False),
    Column("access_exp", Float, nullable=False),
)

oauth_app_redirects = Table(
    "oauth_app_redirects",
    metadata,
    Column(
        "client_id", String(128), ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), primary_key=True
    ),
    Column("redirect_uris", Text, nullable=False),
)

# -- audit retention and forwarding (issue 8 follow-up; migration r0008_audit_retention) -----------------
audit_cursors = Table(
    "audit_cursors",
    metadata,
    Column("name", String(64), primary_key=True),  # one forwarding target
    Column("node", String(128), primary_key=True),
    Column("seq", BigInteger, nullable=False),  # the last event of the node's chain sent to it
)

audit_holds = Table(
    "audit_holds",
    metadata,
    Column("id", _AUDIT_ID, primary_key=True, autoincrement=True),
    Column("patient", String(64), nullable=True),  # every condition given must match (AND)
    Column("client_id", String(128), nullable=True),
    Column("since", Float, nullable=True),
    Column("until", Float, nullable=True),
    Column("reason", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

audit_purges = Table(
    "audit_purges",
    metadata,
    Column("id", _AUDIT_ID, primary_key=True, autoincrement=True),
    Column("node", String(128), nullable=False, index=True),
    Column("seq", BigInteger, nullable=False),  # the chain now starts after this event
    Column("head", String(64), nullable=False),  # ... whose hash the next event links to
    Column("kept", Text, nullable=False),  # JSON list of the held seqs at or below ``seq`` still stored
    Column("removed", BigInteger, nullable=False),
    Column("cutoff", Float, nullable=False),
    Column("signed_at", Float, nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", LargeBinary, nullable=False),
)

people_break_glass = Table(
    "people_break_glass",
    metadata,
    Column("record_id", String(32), primary_key=True),
    Column("user_id", String(32), nullable=False),
    Column("client_id", String(128), nullable=False),
    Column("scope", Text, nullable=False),
    Column("reason", LargeBinary, nullable=False),  # sealed by the keyring
    Column("started_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("closed_by", String(32), nullable=True),
    Column("closed_at", Float, nullable=True),
    Column("note", LargeBinary, nullable=True),  # sealed by the keyring
)


people_launches = Table(
    "people_launches",
    metadata,
    Column("launch_hash", String(64), primary_key=True),  # SHA-256 of the opaque launch value
    Column("client_id", String(128), nullable=False),
    Column("context", LargeBinary, nullable=False),  # patient and encounter, sealed by the keyring
    Column("user_id", String(32), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float, nullable=True),
)

# -- people: WebAuthn credentials as second factors (issue 4; migration r0009_webauthn) ---------------------
webauthn_credentials = Table(
    "webauthn_credentials",
    metadata,
    Column("credential_id", String(1366), primary_key=True),  # base64url, unique across every user
    Column(
        "user_id",
        String(32),
        ForeignKey("people_users.user_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("public_key", LargeBinary, nullable=False),  # COSE_Key: public, not sealed
    Column("sign_count", BigInteger, nullable=False),
    Column("transports", String(200), nullable=False),  # space-separated
    Column("name", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
)

# -- vendor sub-processors and offboarding (issue 9, A.4 and A.11; migration r0011_vendor_subprocessors) --
vendor_subprocessors = Table(  # the list and its changes: one row per proposed change, decided or pending
    "vendor_subprocessors",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("vendor_id", String(64), ForeignKey("vendors.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # pending, approved, objected, superseded
    Column("details", Text, nullable=False),  # JSON: service, categories, locations, window, scopes held
    Column("proposed_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=True),
)

vendor_offboardings = Table(  # return-or-destroy attestations; a row means the vendor is terminated
    "vendor_offboardings",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("vendor_id", String(64), ForeignKey("vendors.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("details", Text, nullable=False),  # JSON: disposition, signatory, date, reason, file name and size
    Column("document", LargeBinary, nullable=True),  # the signed attestation, sealed (null: imported by hash)
    Column("file_sha256", String(64), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
