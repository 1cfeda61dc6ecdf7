"""``phigate client`` records: add, list, show, rotate-key, disable, enable.

A client authenticates with ``private_key_jwt`` (SMART Backend Services): phigate
either generates its key pair (``--generate-key``: the public key is registered, the
private key goes to a new credentials file readable by its owner only, and nowhere
else) or registers public keys the third party made (``--jwks-file``, ``--jwks-uri``).
``--client-secret`` is for clients without PHI scopes only (the domain refuses it
otherwise); phigate keeps a scrypt hash, the secret goes to the credentials file.

Key rotation (``rotate-key``) replaces the registered keys. With a static JWKS,
``--keep-old`` keeps the current keys beside the new one so that assertions signed
with either verify during the switch-over; a later ``rotate-key`` without
``--keep-old`` (for instance ``--jwks-file`` with the new key only) ends the overlap.
A jwks_uri client rotates by publishing a new kid at its URL; nothing to do here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.cli.client_options import (
    AlgOption,
    CredentialsOption,
    JwksFileOption,
    binding_of,
    credentials_option,
    key_sources,
    read_jwks,
    usage_error,
)
from phigate.cli.client_registration import (
    KeyAlgorithm,
    admit_new_client,
    check_encryption_keys,
    check_public_keys,
    register_client,
    register_client_with_keys,
    register_secret_client,
    required_client,
    rotate_client_key,
)
from phigate.cli.output import emit
from phigate.cli.store import ConfigOption, JsonOption, migrated_database, run_with_settings
from phigate.cli.vendor_registry import required_vendor
from phigate.settings import ResolvedSettings
from phigate.types import ClientId, VendorId
from phigate.vendors.clients import ClientStatus, OAuthClient, TokenBinding


def add(
    vendor: Annotated[str, typer.Option("--vendor", help="The owning vendor's id.")],
    name: Annotated[str, typer.Option("--name", help="A name for the client, unique within its vendor.")],
    scopes: Annotated[str, typer.Option("--scopes", help='Scope ceiling, e.g. "system/Observation.rs".')],
    jwks_file: JwksFileOption = None,
    jwks_uri: Annotated[
        str | None, typer.Option("--jwks-uri", help="https URL of the client's JWKS.")
    ] = None,
    generate_key: Annotated[
        bool, typer.Option("--generate-key", help="Make the key pair here (needs --credentials-out).")
    ] = False,
    client_secret: Annotated[
        bool, typer.Option("--client-secret", help="A shared secret instead of keys (no PHI scopes).")
    ] = False,
    alg: AlgOption = KeyAlgorithm.ES384,
    credentials_out: CredentialsOption = None,
    token_binding: Annotated[
        TokenBinding | None, typer.Option("--token-binding", help="Sender constraint of its tokens.")
    ] = None,
    mtls_cert: Annotated[
        Path | None, typer.Option("--mtls-cert", help="The client's certificate (PEM) for mtls binding.")
    ] = None,
    client_id: Annotated[str | None, typer.Option("--id", help="The client id (default: generated).")] = None,
    encryption_jwks_file: Annotated[
        Path | None,
        typer.Option(
            "--encryption-jwks-file",
            help="Public keys to encrypt responses to (see `phigate client encryption-key set`).",
        ),
    ] = None,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Register an OAuth client for a vendor."""
    chosen = [f for f, on in key_sources(jwks_file, jwks_uri, generate_key, client_secret).items() if on]

    async def work(resolved: ResolvedSettings) -> OAuthClient:
        encryption = read_jwks(encryption_jwks_file) if encryption_jwks_file is not None else None
        if encryption is not None:
            check_encryption_keys(encryption)  # before anything is registered
        client = await register(resolved)
        if encryption is None:
            return client
        async with migrated_database(resolved) as db:
            return await SqlClientRegistry(db).set_encryption_keys(client.client_id, encryption)

    async def register(resolved: ResolvedSettings) -> OAuthClient:
        if len(chosen) != 1:
            raise usage_error(
                "give exactly one of --jwks-file, --jwks-uri, --generate-key or --client-secret"
            )
        out = credentials_option(credentials_out, needed=generate_key or client_secret)
        binding, thumbprint = binding_of(token_binding, mtls_cert)
        settings, owner = resolved.settings, VendorId(vendor)
        async with migrated_database(resolved) as db:
            await admit_new_client(db, resolved, owner)
            if generate_key:
                assert out is not None
                return await register_client(
                    db, settings, owner, name, scopes, alg, out,
                    client_id=client_id, token_binding=binding, mtls_thumbprint=thumbprint,
                )  # fmt: skip
            if client_secret:
                assert out is not None
                return await register_secret_client(
                    db, settings, owner, name, scopes, out, client_id=client_id
                )
            return await register_client_with_keys(
                db, settings, owner, name, scopes,
                jwks=read_jwks(jwks_file) if jwks_file else None, jwks_uri=jwks_uri,
                client_id=client_id, token_binding=binding, mtls_thumbprint=thumbprint,
            )  # fmt: skip

    client = run_with_settings(config, work)
    written = f"; credentials written to {credentials_out} (keep it secret)" if credentials_out else ""
    emit(
        client_view(client),
        as_json,
        lambda v: f"registered client {v['client_id']} for {v['vendor_id']}{written}",
    )


def list_clients(
    vendor: Annotated[str | None, typer.Option("--vendor", help="Only this vendor's clients.")] = None,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """List clients (never key material)."""

    async def work(resolved: ResolvedSettings) -> list[dict[str, Any]]:
        async with migrated_database(resolved) as db:
            if vendor is not None:
                await required_vendor(db, VendorId(vendor))
            clients = await SqlClientRegistry(db).list(VendorId(vendor) if vendor else None)
            return [client_view(c) for c in clients]

    emit(run_with_settings(config, work), as_json, _render_list)


def show(
    client_id: Annotated[str, typer.Argument(help="The client id.")],
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Show one client: scopes, status, binding and its public key ids."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with migrated_database(resolved) as db:
            return client_view(await required_client(db, ClientId(client_id)))

    emit(run_with_settings(config, work), as_json, _render_client)


def rotate_key(
    client_id: Annotated[str, typer.Argument(help="The client id.")],
    jwks_file: JwksFileOption = None,
    jwks_uri: Annotated[str | None, typer.Option("--jwks-uri", help="Switch to this JWKS URL.")] = None,
    generate_key: Annotated[
        bool, typer.Option("--generate-key", help="Make a new key pair here (needs --credentials-out).")
    ] = False,
    alg: AlgOption = KeyAlgorithm.ES384,
    credentials_out: CredentialsOption = None,
    keep_old: Annotated[
        bool, typer.Option("--keep-old", help="Keep the current static keys too (an overlap).")
    ] = False,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Replace a client's registered keys."""
    chosen = [f for f, on in key_sources(jwks_file, jwks_uri, generate_key, False).items() if on]

    async def work(resolved: ResolvedSettings) -> OAuthClient:
        if len(chosen) != 1:
            raise usage_error("give exactly one of --jwks-file, --jwks-uri or --generate-key")
        out = credentials_option(credentials_out, needed=generate_key)
        async with migrated_database(resolved) as db:
            if out is not None:
                return await rotate_client_key(
                    db, resolved.settings, ClientId(client_id), alg, out, keep_old=keep_old
                )
            await required_client(db, ClientId(client_id))
            jwks = read_jwks(jwks_file) if jwks_file else None
            if jwks is not None:
                check_public_keys(jwks)
            return await SqlClientRegistry(db).set_keys(
                ClientId(client_id),
                jwks=jwks,
                jwks_uri=jwks_uri,
                keep_old=keep_old,
                allow_loopback_jwks=resolved.settings.oauth.allow_loopback_jwks,
            )

    client = run_with_settings(config, work)
    keys = ", ".join(client.key_ids) or f"from {client.jwks_uri}"
    emit(client_view(client), as_json, lambda v: f"client {v['client_id']} now verifies with keys: {keys}")


def disable(
    client_id: Annotated[str, typer.Argument(help="The client id.")],
    config: ConfigOption = Path("phigate.yaml"),
) -> None:
    """Stop issuing tokens to a client (its record stays, for the audit trail)."""
    _set_status(config, ClientId(client_id), ClientStatus.disabled)
    typer.echo(f"client {client_id} is disabled")


def enable(
    client_id: Annotated[str, typer.Argument(help="The client id.")],
    config: ConfigOption = Path("phigate.yaml"),
) -> None:
    """Let a disabled client get tokens again."""
    _set_status(config, ClientId(client_id), ClientStatus.active)
    typer.echo(f"client {client_id} is active")


def _set_status(config: Path, client_id: ClientId, status: ClientStatus) -> None:
    async def work(resolved: ResolvedSettings) -> OAuthClient:
        async with migrated_database(resolved) as db:
            if status is ClientStatus.active:
                await admit_new_client(db, resolved, (await required_client(db, client_id)).vendor_id)
            return await SqlClientRegistry(db).set_status(client_id, status)

    run_with_settings(config, work)


def client_view(client: OAuthClient) -> dict[str, Any]:
    """What list/show print: public key ids and shapes, never key material or the secret's hash."""
    keys = [
        {name: key[name] for name in ("kid", "kty", "alg", "crv") if name in key}
        for key in (client.jwks or {}).get("keys", ())
    ]
    return {
        "client_id": client.client_id,
        "vendor_id": client.vendor_id,
        "name": client.name,
        "status": client.status.value,
        "scopes": client.scopes,
        "auth_method": client.auth_method.value,
        "keys": keys,
        "jwks_uri": client.jwks_uri,
        "token_binding": client.token_binding.value,
        "mtls_thumbprint": client.mtls_thumbprint,
        "encryption_keys": [
            {name: key[name] for name in ("kid", "kty", "alg", "crv") if name in key}
            for key in (client.encryption_jwks or {}).get("keys", ())
        ],
        "created_at": client.created_at.isoformat(),
        "updated_at": client.updated_at.isoformat(),
    }


def _render_client(view: dict[str, Any]) -> str:
    keys = ", ".join(f"{k['kid']} ({k.get('alg') or k['kty']})" for k in view["keys"])
    lines = [
        f"client {view['client_id']}",
        f"  vendor:         {view['vendor_id']}",
        f"  name:           {view['name']}",
        f"  status:         {view['status']}",
        f"  scopes:         {view['scopes']}",
        f"  auth method:    {view['auth_method']}",
        f"  keys:           {keys or ('from ' + view['jwks_uri'] if view['jwks_uri'] else 'none')}",
        f"  token binding:  {view['token_binding']}",
    ]
    if view["mtls_thumbprint"]:
        lines.append(f"  cert x5t#S256:  {view['mtls_thumbprint']}")
    if view["encryption_keys"]:
        sealed = ", ".join(f"{k['kid']} ({k.get('alg') or k['kty']})" for k in view["encryption_keys"])
        lines.append(f"  encrypts to:    {sealed}")
    lines += [f"  created:        {view['created_at']}", f"  updated:        {view['updated_at']}"]
    return "\n".join(lines)


def _render_list(views: list[dict[str, Any]]) -> str:
    if not views:
        return "no clients registered (add one: phigate client add --vendor ID --name NAME --scopes ...)"
    return "\n".join(
        f"{v['client_id']:<40} {v['vendor_id']:<24} {v['status']:<9} {v['auth_method']:<16} {v['scopes']}"
        for v in views
    )
