"""The admin API's OpenAPI 3.1 document, written by hand: five routes do not need a generator's guesses."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_VENDOR_ID = {"name": "vendor_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _reply(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _reply("error", _ERROR) for status in statuses}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


POSTURE = {"$ref": "#/components/schemas/VendorPosture"}

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
                    "standing": {"enum": ["approved", "conditional", "suspended", "expired"]},
                    "reasons": {"type": "array", "items": {"type": "string"}},
                    "warnings": {"type": "array", "items": {"type": "string"}},
                    "restrictions": {"type": "array", "items": {"type": "string"}},
                    "factors": {"type": "array", "items": {"type": "object"}},
                    "incidents": {"type": "array", "items": {"type": "object"}},
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
