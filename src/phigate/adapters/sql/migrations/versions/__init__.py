"""Migration revisions, one per schema change, in ``down_revision`` order."""
