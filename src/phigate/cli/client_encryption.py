"""``phigate client encryption-key``: the keys the gateway encrypts a client's responses to (JWE)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.cli.client_options import read_jwks
from phigate.cli.client_records import client_view
from phigate.cli.client_registration import check_encryption_keys, required_client
from phigate.cli.output import emit
from phigate.cli.store import ConfigOption, JsonOption, migrated_database, run_with_settings
from phigate.settings import ResolvedSettings
from phigate.types import ClientId
from phigate.vendors.clients import OAuthClient

encryption_app = typer.Typer(
    no_args_is_help=True,
    help="Keys the gateway encrypts responses to (JWE), when the client's data contract asks for it.",
)
EncryptionJwksOption = Annotated[
    Path,
    typer.Option(
        "--jwks-file",
        help="A JWKS of public encryption keys (use enc, a kid each): RSA (RSA-OAEP-256) or EC "
        "(ECDH-ES+A256KW). The first key is the one responses are encrypted to.",
    ),
]


@encryption_app.command("set")
def encryption_set(
    client_id: Annotated[str, typer.Argument(help="The client id.")],
    jwks_file: EncryptionJwksOption,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Register the client's response encryption keys, replacing any registered before."""
    _set_encryption_keys(config, ClientId(client_id), jwks_file, keep_old=False, as_json=as_json)


@encryption_app.command("rotate")
def encryption_rotate(
    client_id: Annotated[str, typer.Argument(help="The client id.")],
    jwks_file: EncryptionJwksOption,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Put new encryption keys first (used by every node within seconds); the old ones are listed after."""
    _set_encryption_keys(config, ClientId(client_id), jwks_file, keep_old=True, as_json=as_json)


@encryption_app.command("clear")
def encryption_clear(
    client_id: Annotated[str, typer.Argument(help="The client id.")],
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Remove the client's encryption keys (a contract that requires encryption then refuses with 403)."""
    _set_encryption_keys(config, ClientId(client_id), None, keep_old=False, as_json=as_json)


def _set_encryption_keys(
    config: Path, client_id: ClientId, jwks_file: Path | None, *, keep_old: bool, as_json: bool
) -> None:
    async def work(resolved: ResolvedSettings) -> OAuthClient:
        jwks = read_jwks(jwks_file) if jwks_file is not None else None
        if jwks is not None:
            check_encryption_keys(jwks)
        async with migrated_database(resolved) as db:
            await required_client(db, client_id)
            return await SqlClientRegistry(db).set_encryption_keys(client_id, jwks, keep_old=keep_old)

    client = run_with_settings(config, work)
    keys = ", ".join(client.encryption_key_ids) or "none"
    emit(client_view(client), as_json, lambda v: f"client {v['client_id']} encryption keys: {keys}")
