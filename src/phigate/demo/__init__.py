"""The embedded demo EHR: a FHIR R4 server over a deterministic synthetic data set.

``phigate demo`` puts it behind the gateway so a newcomer sees the gateway work
against a realistic upstream. The pieces:

- :mod:`phigate.demo.synthetic` generates the data set (seeded, no clock reads);
- :mod:`phigate.demo.store` keeps resources in memory with version history and an
  append-only journal file so writes survive restarts;
- :mod:`phigate.demo.ehr` serves the FHIR REST API (Starlette) over the store.
"""
