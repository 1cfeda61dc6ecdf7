"""``phigate``: the command line entry point."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
import uvloop

from phigate import __version__
from phigate.asgi.runtime import run_node
from phigate.cli.audit import audit_app
from phigate.cli.clients import client_app
from phigate.cli.contracts import contract_app
from phigate.cli.demo import demo
from phigate.cli.keys import keys_app
from phigate.cli.launches import launch_app
from phigate.cli.output import emit, reported_errors
from phigate.cli.reviews import review_app
from phigate.cli.token import token
from phigate.cli.users import user_app
from phigate.cli.vendors import vendor_app
from phigate.errors import ConfigError
from phigate.settings import load_settings
from phigate.shaping.contracts import compile_with_problems

app = typer.Typer(no_args_is_help=True, add_completion=False, help="phigate: security gateway for FHIR APIs.")
config_app = typer.Typer(no_args_is_help=True, help="Check configuration files.")
app.add_typer(config_app, name="config")
app.add_typer(keys_app, name="keys")
app.add_typer(vendor_app, name="vendor", help="Third parties (vendors) that own OAuth clients.")
app.add_typer(client_app, name="client", help="OAuth clients of third parties.")
app.add_typer(review_app, name="review", help="Access reviews of clients' permissions.")
app.add_typer(contract_app, name="contract")  # data contracts (issue 7)
app.add_typer(user_app, name="user")  # people who sign in (issue 4)
app.add_typer(launch_app, name="launch")  # EHR launches of their apps (issue 4)
app.add_typer(audit_app, name="audit")  # evidence plane (issue 8)
app.command(help="Get an access token for a client (SMART Backend Services).")(token)
app.command(help="Run the embedded demo EHR behind the gateway (loopback only).")(demo)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The phigate.yaml to use.")]


@app.command()
def serve(config: ConfigOption = Path("phigate.yaml")) -> None:
    """Run the gateway in front of its upstreams until SIGINT/SIGTERM, then drain requests in flight."""
    with reported_errors():
        resolved = load_settings(config)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run_node(resolved))


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="The phigate.yaml to check.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Report every problem in FILE, each with its key path; exit 1 if there is any."""
    try:
        resolved = load_settings(file)
    except ConfigError as exc:
        emit({"valid": False, "problems": exc.problems}, as_json, _render_problems)
        raise typer.Exit(1) from None
    # Beyond the schema: what a section means (a contract naming an unknown type or an uncheckable parameter).
    _, problems = compile_with_problems(resolved.settings.contracts)
    emit({"valid": not problems, "problems": problems}, as_json, _render_problems)
    if problems:
        raise typer.Exit(1)


def _render_problems(result: dict[str, Any]) -> str:
    if result["valid"]:
        return "configuration is valid"
    lines = [f"{len(result['problems'])} problem(s):"]
    lines += [f"  - {problem}" for problem in result["problems"]]
    return "\n".join(lines)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
