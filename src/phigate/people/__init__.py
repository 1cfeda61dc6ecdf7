"""People who sign in to the gateway's authorisation server: users, roles, sessions, sign-in attempts.

Pure domain (no I/O, no clock reads: time is passed in). Storage lives in
:mod:`phigate.adapters.sql.people`; the protocol flows (authorization code,
MFA, consent) in :mod:`phigate.oauth`.
"""
