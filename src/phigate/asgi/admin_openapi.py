"""The admin API's OpenAPI 3.1 document, written by hand: a dozen routes do not need a generator's guesses."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_VENDOR_ID = {"name": "vendor_id", "in": "path", "required": True, "schema": {"type": "string"}}
_CHANGE_ID = {"name": "change_id", "in": "path", "required": True, "schema": {"type": "string"}}
_STRINGS = {"type": "array", "items": {"type": "string"}, "minItems": 1}


def _reply(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _reply("error", _ERROR) for status in statuses}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


POSTURE = {"$ref": "#/components/schemas/VendorPosture"}
CHANGE = {"$ref": "#/components/schemas/SubprocessorChange"}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "phigate admin API", "version": "1"},
    "security": [{"adminToken": []}],
    "paths": {
        "/admin/launches": {
            "post": {
                "summary": "Start an EHR launch: the launch value and iss for the app (SMART App Launch)",
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["client_id", "patient"],
                        "properties": {
                            "client_id": {"type": "string"},
                            "patient": {"type": "string", "description": "a Patient id"},
                            "encounter": {"type": "string", "description": "an Encounter id"},
                            "user": {"type": "string", "description": "only this username may complete it"},
                            "fhir_base": {"type": "string", "description": "default: the first route's"},
                        },
                    }
                ),
                "responses": {
                    "201": _reply(
                        "launch",
                        {
                            "type": "object",
                            "properties": {
                                "launch": {"type": "string"},
                                "iss": {"type": "string"},
                                "client_id": {"type": "string"},
                                "expires_in": {"type": "integer"},
                            },
                        },
                    ),
                    **_errors(400, 401),
                },
            }
        },
        "/admin/vendors": {
            "get": {
                "summary": "Every vendor with its standing and reasons",
                "responses": {
                    "200": _reply(
                        "vendors", {"type": "object", "properties": {"vendors": {"type": "array"}}}
                    ),
                    **_errors(401),
                },
            }
        },
        "/admin/vendors/{vendor_id}": {
            "get": {
                "summary": "One vendor's posture: standing, reasons, factors, incidents",
                "parameters": [_VENDOR_ID],
                "responses": {"200": _reply("posture", POSTURE), **_errors(400, 401, 404)},
            }
        },
        "/admin/vendors/{vendor_id}/incidents": {
            "post": {
                "summary": "Record an incident: suspends (or restricts) the vendor and revokes its tokens",
                "parameters": [_VENDOR_ID],
                "requestBody": _body({"$ref": "#/components/schemas/IncidentReport"}),
                "responses": {"201": _reply("incident", {"type": "object"}), **_errors(400, 401, 404)},
            }
        },
        "/admin/vendors/{vendor_id}/suspend": {
            "post": {
                "summary": "Suspend the vendor and revoke its clients' tokens",
                "parameters": [_VENDOR_ID],
                "requestBody": _body(
                    {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}}
                ),
                "responses": {"200": _reply("posture", POSTURE), **_errors(400, 401, 404)},
            }
        },
        "/admin/vendors/{vendor_id}/reinstate": {
            "post": {
                "summary": "Lift a suspension and open incidents' hold (revoked tokens stay revoked)",
                "parameters": [_VENDOR_ID],
                "responses": {"200": _reply("posture", POSTURE), **_errors(400, 401, 404)},
            }
        },
        "/admin/vendors/{vendor_id}/subprocessors": {
            "get": {
                "summary": "The vendor's sub-processors and every change to them, decided or pending",
                "parameters": [_VENDOR_ID],
                "responses": {
                    "200": _reply(
                        "list",
                        {
                            "type": "object",
                            "properties": {"subprocessors": {"type": "array", "items": CHANGE}},
                        },
                    ),
                    **_errors(400, 401, 404),
                },
            },
            "post": {
                "summary": "Propose a sub-processor (or new terms for a listed one): notifies the "
                "controller, opens the objection window; the vendor is pending_review until a decision",
                "parameters": [_VENDOR_ID],
                "requestBody": _body({"$ref": "#/components/schemas/SubprocessorProposal"}),
                "responses": {"201": _reply("pending change", CHANGE), **_errors(400, 401, 404)},
            },
        },
        "/admin/vendors/{vendor_id}/subprocessors/{change_id}/approve": {
            "post": {
                "summary": "Approve a pending change: its terms go on the list; the hold on access is lifted",
                "parameters": [_VENDOR_ID, _CHANGE_ID],
                "responses": {"200": _reply("decided change", CHANGE), **_errors(400, 401, 404)},
            }
        },
        "/admin/vendors/{vendor_id}/subprocessors/{change_id}/object": {
            "post": {
                "summary": "Object to a pending change: the vendor may not engage it on those terms",
                "parameters": [_VENDOR_ID, _CHANGE_ID],
                "requestBody": _body(
                    {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}}
                ),
                "responses": {"200": _reply("decided change", CHANGE), **_errors(400, 401, 404)},
            }
        },
        "/admin/vendors/{vendor_id}/offboard": {
            "post": {
                "summary": "Terminate the vendor with its return-or-destroy attestation (refused without "
                "one): tokens revoked, clients disabled, agreements ended, at once; final",
                "parameters": [_VENDOR_ID],
                "requestBody": _body({"$ref": "#/components/schemas/Offboarding"}),
                "responses": {"200": _reply("terminated", {"type": "object"}), **_errors(400, 401, 404, 413)},
            }
        },
    },
    "components": {
        "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
            },
            "VendorPosture": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "status": {"enum": ["active", "suspended", "terminated"]},
                    "standing": {
                        "enum": [
                            "approved",
                            "conditional",
                            "pending_review",
                            "suspended",
                            "expired",
                            "terminated",
                        ]
                    },
                    "reasons": {"type": "array", "items": {"type": "string"}},
                    "warnings": {"type": "array", "items": {"type": "string"}},
                    "restrictions": {"type": "array", "items": {"type": "string"}},
                    "factors": {"type": "array", "items": {"type": "object"}},
                    "incidents": {"type": "array", "items": {"type": "object"}},
                    "subprocessors": {"type": "array", "items": CHANGE},
                },
            },
            "SubprocessorProposal": {
                "type": "object",
                "required": ["name", "service", "data_categories", "locations"],
                "properties": {
                    "name": {"type": "string"},
                    "service": {"type": "string", "description": "what it does for the vendor"},
                    "data_categories": {**_STRINGS, "description": "lower-case words such as lab-results"},
                    "locations": {**_STRINGS, "description": "ISO country codes (US, DE) or EU"},
                },
            },
            "SubprocessorChange": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "service": {"type": "string"},
                    "data_categories": {"type": "array", "items": {"type": "string"}},
                    "locations": {"type": "array", "items": {"type": "string"}},
                    "status": {"enum": ["pending", "approved", "objected", "superseded"]},
                    "change": {"enum": ["added", "changed"]},
                    "replaces": {"type": ["string", "null"]},
                    "proposed_at": {"type": "string", "format": "date-time"},
                    "objection_until": {"type": "string", "format": "date"},
                    "decided_at": {"type": ["string", "null"], "format": "date-time"},
                    "decided_by": {"type": ["string", "null"]},
                    "reason": {"type": ["string", "null"]},
                    "standing": {"type": "string", "description": "the vendor's standing after the change"},
                },
            },
            "Offboarding": {
                "type": "object",
                "required": ["attestation"],
                "properties": {
                    "reason": {"type": "string", "description": "why (registry only)"},
                    "attestation": {
                        "type": "object",
                        "required": ["disposition", "signed_by", "signed_on", "file"],
                        "properties": {
                            "disposition": {"enum": ["returned", "destroyed", "returned_and_destroyed"]},
                            "signed_by": {"type": "string", "description": "the vendor's signatory"},
                            "signed_on": {"type": "string", "format": "date"},
                            "file": {
                                "type": "object",
                                "required": ["name", "content_base64"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "content_base64": {"type": "string", "contentEncoding": "base64"},
                                },
                            },
                        },
                    },
                },
            },
            "IncidentReport": {
                "type": "object",
                "required": ["summary"],
                "properties": {
                    "summary": {"type": "string", "description": "what happened; no patient data"},
                    "jurisdictions": {"type": "array", "items": {"enum": ["US", "EU", "AU", "AU-MHR"]}},
                    "aware_at": {"type": "string", "format": "date-time"},
                },
            },
        },
    },
}
