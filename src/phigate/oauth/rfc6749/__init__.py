"""RFC 6749, The OAuth 2.0 Authorization Framework: the token endpoint and its error responses."""
