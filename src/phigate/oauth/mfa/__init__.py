"""Second factors: TOTP (RFC 6238) with recovery codes, WebAuthn."""
