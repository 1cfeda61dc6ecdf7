"""Plain-language descriptions of SMART scopes for the consent page."""

from __future__ import annotations

from phigate.policy.scopes import ClinicalScope, ScopeSet

NAMED = {
    "openid": "Know who you are",
    "fhirUser": "See which record in the system is you",
    "profile": "See your name",
    "launch": "Open with the patient (and encounter) chosen in the EHR",
    "launch/patient": "Know which patient the app is for",
    "launch/encounter": "Know which encounter the app is for",
    "offline_access": "Keep access after you close the app, until you revoke it or it expires",
    "online_access": "Keep access while you stay signed in",
}
VERBS = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
WHOSE = {"patient": "the patient's", "user": "all the", "system": "all the"}


def described(scopes: ScopeSet) -> list[dict[str, str]]:
    return [{"value": str(scope), "label": _label(scope)} for scope in scopes]


def _label(scope: str | ClinicalScope) -> str:
    if isinstance(scope, str):
        return NAMED.get(scope, scope)
    verbs = [VERBS[letter] for letter in scope.permissions]
    action = ", ".join(verbs[:-1]) + (" and " if len(verbs) > 1 else "") + verbs[-1]
    kind = "records of every type" if scope.resource_type == "*" else f"{scope.resource_type} records"
    limited = " (only some categories)" if scope.constraints else ""
    return f"{action.capitalize()} {WHOSE[scope.context.value]} {kind}{limited}"
