"""phigate: a security gateway for healthcare (FHIR) APIs."""

__version__ = "0.1.0"
