"""OpenID Connect Discovery 1.0: the issuer's metadata document."""
