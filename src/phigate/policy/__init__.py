"""Access policy as values: SMART scopes, access decisions and obligations, data contracts (pure)."""
