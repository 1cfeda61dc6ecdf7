"""Identity: the OAuth 2.0 / OpenID Connect / SMART on FHIR authorisation server and token checks."""
