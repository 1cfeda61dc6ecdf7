"""Adapters: the only code that imports database drivers, crypto and other I/O libraries.

``sql`` holds the durable store (SQLAlchemy, Alembic migrations); ``kms`` holds
master keys and envelope encryption. Each implements ports from
:mod:`phigate.ports`; subpackages are imported explicitly, not from here, so
using one does not load the others' drivers.
"""
