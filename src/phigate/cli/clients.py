"""``phigate client``: third parties' OAuth clients, their keys and their scope ceilings.

The command tree is assembled here, in the order ``--help`` lists it; the commands live in
phigate.cli.client_records and phigate.cli.client_encryption, which never import this module.
"""

from __future__ import annotations

import typer

from phigate.cli import client_encryption, client_records

client_app = typer.Typer(
    no_args_is_help=True, help="OAuth clients of third parties (SMART Backend Services)."
)
client_app.command("add")(client_records.add)
client_app.command("list")(client_records.list_clients)
client_app.command("show")(client_records.show)
client_app.command("rotate-key")(client_records.rotate_key)
client_app.command("disable")(client_records.disable)
client_app.command("enable")(client_records.enable)
client_app.add_typer(client_encryption.encryption_app, name="encryption-key")
