"""FHIR R4 request model, parser, search-parameter grammar and OperationOutcome (pure: no I/O)."""
