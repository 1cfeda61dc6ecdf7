"""``phigate vendor``: the third parties that own OAuth clients.

The command tree is assembled here, in the order ``--help`` lists it; the commands live in one module
per noun (records, documents, incidents, lifecycle, report), and none of them imports this one.
"""

from __future__ import annotations

import typer

from phigate.cli import vendor_documents, vendor_incidents, vendor_lifecycle, vendor_records, vendor_report

vendor_app = typer.Typer(no_args_is_help=True, help="Vendors: the third parties that own OAuth clients.")
vendor_app.command("add")(vendor_records.add)
vendor_app.command("list")(vendor_records.list_vendors)
vendor_app.command("show")(vendor_records.show)
vendor_app.command("remove")(vendor_records.remove)
vendor_app.command("profile")(vendor_records.profile)
vendor_app.command("assess")(vendor_documents.assess_vendor)
vendor_app.command("suspend")(vendor_records.suspend)
vendor_app.command("reinstate")(vendor_records.reinstate)
vendor_app.command("webhook-secret")(vendor_records.webhook_secret)
vendor_app.command("export")(vendor_records.export_vendors)
vendor_app.command("import")(vendor_records.import_vendors)
vendor_app.command("offboard")(vendor_lifecycle.offboard_vendor)
vendor_app.command("report")(vendor_report.report)
vendor_app.command("reminders")(vendor_report.reminders_command)
vendor_app.add_typer(vendor_documents.evidence_app, name="evidence")
vendor_app.add_typer(vendor_documents.agreement_app, name="agreement")
vendor_app.add_typer(vendor_incidents.incident_app, name="incident")
vendor_app.add_typer(vendor_lifecycle.subprocessor_app, name="subprocessor")
