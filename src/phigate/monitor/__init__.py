"""Evidence plane: structured logs, metrics (and later detectors, alerts, reactions)."""
