"""Alembic migrations of the durable store, run from code by ``Database.migrate()``.

To add a revision, write ``versions/rNNNN_<what>.py`` by hand (copy the newest
one; ``down_revision`` is its ``revision``), with explicit, named constraints.
"""
