"""The per-vendor report (JSON and HTML): posture and reasons, evidence and expiry, assessment, clients,
use (from the audit trail), alerts and the reminders sent, incidents with their clocks, the registry's
trail and the last access review.

Built from values only; the CLI gathers them. Contacts are personal data and
appear only when the caller asks (``contacts=True``). The HTML is one
self-contained page with every value escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from phigate.settings.vendors import VendorSettings
from phigate.vendors.agreements import Agreement
from phigate.vendors.clients import OAuthClient
from phigate.vendors.dossier import Dossier
from phigate.vendors.evidence import Evidence, valid_until
from phigate.vendors.posture import Posture
from phigate.vendors.reminders import SentNotice, review_overdue_key, upcoming
from phigate.vendors.reviews import AccessReview
from phigate.vendors.usage import Disclosures, Refusals, Use


def _expiry(item: Evidence, rules: VendorSettings) -> date:
    return valid_until(
        item, soc2_valid_months=rules.soc2_valid_months, pentest_valid_days=rules.pentest_valid_days
    )


def vendor_report(
    *,
    vendor: Mapping[str, Any],
    dossier: Dossier,
    posture: Posture,
    rules: VendorSettings,
    clients: Sequence[OAuthClient],
    uses: Sequence[Use],
    refusals: Sequence[Refusals],
    disclosures: Sequence[Disclosures],
    events: Sequence[Mapping[str, Any]],
    reviews: Sequence[AccessReview],
    notices: Sequence[SentNotice],
    now: datetime,
) -> dict[str, Any]:
    """``uses``, ``refusals``, ``disclosures``: the clients' use, refused requests and patient disclosures
    over the last ``vendors.review_unused_days`` (from the audit trail);
    ``notices``: the reminders and overdue alerts sent so far (the vendor's, and access reviews')."""
    alerts = [
        f"{e.label} expires {e.expires_on.isoformat()} ({e.days_left(now.date())} days)"
        for e in upcoming(dossier, rules, now.date())
    ]
    alerts += list(posture.warnings)
    incidents, overdue_notices = _incidents(dossier, now)
    alerts += overdue_notices
    mine = {c.client_id for c in clients}
    review = next((r for r in reversed(reviews) if any(i.client_id in mine for i in r.items)), None)
    sent = {n.key: n.sent_at for n in notices}
    alerted = sent.get(review_overdue_key(review.id)) if review is not None else None
    if review is not None and review.overdue(now):
        note = f" (alerted {alerted.isoformat()})" if alerted is not None else ""
        alerts.append(f"access review {review.id} overdue since {review.due_on.isoformat()}{note}")
    return {
        "vendor": dict(vendor),
        "generated_at": now.isoformat(),
        "posture": posture.as_dict(),
        "evidence": [_evidence(e, rules) for e in dossier.evidence],
        "agreements": [_agreement(a, rules) for a in dossier.agreements],
        "assessment": _assessment(dossier),
        "clients": [
            {"client_id": c.client_id, "status": c.status.value, "scopes": c.scopes.split(" ")}
            for c in clients
        ],
        "traffic_days": rules.review_unused_days,
        "traffic": [
            {
                "client_id": u.client_id,
                "resource_type": u.resource_type,
                "interaction": u.interaction,
                "count": u.count,
                "last_at": u.last_at.isoformat(),
            }
            for u in uses
            if u.client_id in mine
        ],
        "denials": [{"client_id": r.client_id, "outcome": r.outcome, "count": r.count} for r in refusals],
        "disclosures": [
            {"client_id": d.client_id, "disclosures": d.disclosures, "patients": d.patients}
            for d in disclosures
        ],
        "alerts": alerts,
        "notices": [
            {"kind": n.kind.value, "text": n.text, "sent_at": n.sent_at.isoformat()}
            for n in notices
            if n.vendor_id == dossier.vendor_id
        ],
        "incidents": incidents,
        "last_review": None if review is None else review.summary(now, alerted),
        "trail": [dict(e) for e in events],
    }


def _incidents(dossier: Dossier, now: datetime) -> tuple[list[dict[str, Any]], list[str]]:
    """Each incident with its clocks, and an alert line per notification duty overdue."""
    contract_hours = min(
        (a.breach_notice_hours for a in dossier.agreements if a.breach_notice_hours is not None), default=None
    )
    views, alerts = [], []
    for incident in dossier.incidents:
        clocks = incident.clocks(contract_hours)
        alerts += [f"incident {incident.id}: {c.name} notice overdue" for c in clocks if c.overdue(now)]
        views.append(
            {
                "id": incident.id,
                "summary": incident.summary,
                "status": incident.status.value,
                "aware_at": incident.aware_at.isoformat(),
                "jurisdictions": sorted(incident.jurisdictions),
                "access_restored": incident.restored_at is not None,
                "clocks": [
                    {
                        "name": c.name,
                        "due_at": c.due_at.isoformat(),
                        "duty": c.duty,
                        "met_at": c.met_at.isoformat() if c.met_at else None,
                    }
                    for c in clocks
                ],
            }
        )
    return views, alerts


def _evidence(item: Evidence, rules: VendorSettings) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind.value,
        "label": item.label,
        "issuer": item.issuer,
        "period_end": _day(item.period_end),
        "exceptions": item.exceptions,
        "valid_until": _expiry(item, rules).isoformat(),
        "attachment_sha256": item.attachment.sha256 if item.attachment else None,
    }


def _agreement(item: Agreement, rules: VendorSettings) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind.value,
        "label": item.label,
        "valid_from": item.valid_from.isoformat(),
        "valid_until": item.valid_until.isoformat(),
        "breach_notice_hours": item.breach_notice_hours,
        "breach_notice_flagged": item.notice_too_slow(rules.max_breach_notice_hours),
        "purposes": list(item.purposes),
        "data_categories": list(item.data_categories),
        "clauses": sorted(item.clauses),
        "file_sha256": item.file_sha256,
    }


def _assessment(dossier: Dossier) -> dict[str, Any] | None:
    item = dossier.assessment
    if item is None:
        return None
    return {
        "id": item.id,
        "assessed_at": item.assessed_at.isoformat(),
        "assessor": item.assessor,
        "score": item.rating.score,
        "band": item.rating.band.value,
        "reasons": list(item.rating.reasons),
        "review_due": item.review_due.isoformat(),
        "answers": item.answers,
    }


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


SUBPROCESSOR_COLUMNS = ("name", "service", "locations", "status", "proposed_at", "objection_until",
                        "decided_at")  # fmt: skip
OFFBOARDING_COLUMNS = ("disposition", "signed_by", "signed_on", "recorded_at", "file_sha256")


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one HTML page: a heading per section, a table per list."""
    vendor = report["vendor"]
    posture = report["posture"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Vendor report: {_e(vendor.get('name', ''))}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>",
        f"<h1>{_e(vendor.get('name', ''))} <small>({_e(vendor.get('id', ''))})</small></h1>",
        f"<p>Generated {_e(report['generated_at'])}</p>",
        f"<h2>Standing: {_e(posture['standing'])}</h2>",
        _list(posture["reasons"] or ["no restriction"]),
        "<h2>Alerts</h2>",
        _list(report["alerts"] or ["none"]),
        "<h2>Posture factors</h2>",
        _table(posture["factors"], ("item", "passed", "effect", "reason")),
        "<h2>Evidence</h2>",
        _table(report["evidence"], ("label", "issuer", "period_end", "valid_until", "exceptions")),
        "<h2>Agreements</h2>",
        _table(report["agreements"], ("label", "valid_from", "valid_until", "breach_notice_hours")),
    ]
    subprocessors = [{**item, "locations": " ".join(item.get("locations", ()))}
                     for item in vendor.get("subprocessors", ())]  # fmt: skip
    parts += ["<h2>Sub-processors and their changes</h2>", _table(subprocessors, SUBPROCESSOR_COLUMNS)]
    if vendor.get("offboarding"):
        parts += ["<h2>Offboarding</h2>", _table([vendor["offboarding"]], OFFBOARDING_COLUMNS)]
    assessment = report["assessment"]
    parts.append("<h2>Security assessment</h2>")
    if assessment is None:
        parts.append("<p>none on file</p>")
    else:
        parts.append(
            f"<p>{_e(assessment['band'])} risk, score {_e(assessment['score'])}, "
            f"review due {_e(assessment['review_due'])}</p>"
        )
        parts.append(_list(assessment["reasons"] or ["no risk points"]))
    clients = [{**c, "scopes": " ".join(c["scopes"])} for c in report["clients"]]
    parts += [
        "<h2>Clients and permissions</h2>",
        _table(clients, ("client_id", "status", "scopes")),
        f"<h2>Traffic (last {_e(report['traffic_days'])} days, from the audit trail)</h2>",
        _table(report["traffic"], ("client_id", "resource_type", "interaction", "count", "last_at")),
        "<h2>Denials</h2>",
        _table(report["denials"], ("client_id", "outcome", "count")),
        "<h2>Disclosures of patient data</h2>",
        _table(report["disclosures"], ("client_id", "disclosures", "patients")),
        "<h2>Reminders and alerts sent</h2>",
        _table(report["notices"], ("sent_at", "kind", "text")),
        "<h2>Incidents</h2>",
        _table(report["incidents"], ("id", "summary", "status", "aware_at")),
        "<h2>Trail</h2>",
        _table(report["trail"], ("at", "actor", "action", "detail")),
        "</body></html>",
    ]
    return "\n".join(parts)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _list(items: Sequence[Any]) -> str:
    return "<ul>" + "".join(f"<li>{_e(item)}</li>" for item in items) + "</ul>"


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(row.get(c, ''))}</td>" for c in columns) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"
