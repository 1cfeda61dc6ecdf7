"""Evidence: audit events, hash chain and checkpoints, disclosures, BALP AuditEvent export."""
