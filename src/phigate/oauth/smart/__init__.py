"""SMART App Launch 2.x and Backend Services: the discovery document of the FHIR base."""
