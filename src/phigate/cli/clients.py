"""``phigate client``: third parties' OAuth clients, their keys and their scope ceilings.

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

import json
import os
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from phigate.adapters.kms import Keyring, master_key_from_settings
from phigate.adapters.sql import Database, SqlDataKeyStore
from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.adapters.sql.vendor_risk import SqlVendorRisk
from phigate.cli.output import emit
from phigate.cli.vendors import (
    ConfigOption,
    JsonOption,
    migrated_database,
    required_vendor,
    run_with_settings,
)
from phigate.errors import ConfigError
from phigate.oauth.endpoints import Endpoints
from phigate.oauth.jose import generate_client_key, import_public_key, jwk_thumbprint
from phigate.oauth.jwe import import_encryption_key
from phigate.oauth.rfc8705 import certificate_thumbprint
from phigate.settings import ResolvedSettings, Settings
from phigate.types import ClientId, VendorId
from phigate.vendors.clients import (
    ASSERTION_ALGORITHMS,
    ClientStatus,
    OAuthClient,
    TokenBinding,
    check_client_id,
    check_encryption_jwks,
    check_jwks,
    generate_client_id,
    generate_client_secret,
    hash_client_secret,
    new_client,
)
from phigate.vendors.grants import check_new_client
from phigate.vendors.records import NotRegistered, RegistrationError

client_app = typer.Typer(
    no_args_is_help=True, help="OAuth clients of third parties (SMART Backend Services)."
)


class KeyAlgorithm(StrEnum):
    ES384 = "ES384"
    RS384 = "RS384"


# --- plumbing (also used by `phigate demo`) -----------------------------------------------------------


async def register_client(
    db: Database,
    settings: Settings,
    vendor_id: VendorId,
    name: str,
    scopes: str,
    alg: KeyAlgorithm | str,
    credentials_path: Path,
    *,
    client_id: str | None = None,
    token_binding: TokenBinding = TokenBinding.none,
    mtls_thumbprint: str | None = None,
) -> OAuthClient:
    """Register a private_key_jwt client with a key pair made here; write its credentials file.

    ``credentials_path`` is the file to create, or an existing directory in which
    ``<client_id>.json`` is created. The file is new (never overwritten) and mode 0600;
    it is removed again if the registration fails.
    """
    await required_vendor(db, vendor_id)
    chosen = check_client_id(client_id) if client_id is not None else generate_client_id(vendor_id)
    with _credentials_file(_credentials_target(credentials_path, chosen)) as file:
        private_jwk, public_jwk = client_key(KeyAlgorithm(alg))
        client = new_client(
            client_id=chosen,
            vendor_id=vendor_id,
            name=name,
            scopes=scopes,
            jwks={"keys": [public_jwk]},
            token_binding=token_binding,
            mtls_thumbprint=mtls_thumbprint,
            now=datetime.now(UTC),
        )
        await SqlClientRegistry(db).add(client)
        _write(file, credentials(client, settings, private_jwk=private_jwk))
    return client


async def register_client_with_keys(
    db: Database,
    settings: Settings,
    vendor_id: VendorId,
    name: str,
    scopes: str,
    *,
    jwks: Mapping[str, Any] | None = None,
    jwks_uri: str | None = None,
    client_id: str | None = None,
    token_binding: TokenBinding = TokenBinding.none,
    mtls_thumbprint: str | None = None,
) -> OAuthClient:
    """Register a private_key_jwt client whose public keys the third party made (JWKS or JWKS URL)."""
    await required_vendor(db, vendor_id)
    if jwks is not None:
        check_public_keys(jwks)
    client = new_client(
        client_id=client_id,
        vendor_id=vendor_id,
        name=name,
        scopes=scopes,
        jwks=jwks,
        jwks_uri=jwks_uri,
        token_binding=token_binding,
        mtls_thumbprint=mtls_thumbprint,
        allow_loopback_jwks=settings.oauth.allow_loopback_jwks,
        now=datetime.now(UTC),
    )
    await SqlClientRegistry(db).add(client)
    return client


async def register_secret_client(
    db: Database,
    settings: Settings,
    vendor_id: VendorId,
    name: str,
    scopes: str,
    credentials_path: Path,
    *,
    client_id: str | None = None,
) -> OAuthClient:
    """Register a client_secret client (no PHI scopes); the generated secret goes to the credentials file."""
    await required_vendor(db, vendor_id)
    chosen = check_client_id(client_id) if client_id is not None else generate_client_id(vendor_id)
    with _credentials_file(_credentials_target(credentials_path, chosen)) as file:
        secret = generate_client_secret()
        client = new_client(
            client_id=chosen,
            vendor_id=vendor_id,
            name=name,
            scopes=scopes,
            secret_hash=hash_client_secret(secret),
            now=datetime.now(UTC),
        )
        await SqlClientRegistry(db).add(client)
        _write(file, credentials(client, settings, client_secret=secret))
    return client


async def rotate_client_key(
    db: Database,
    settings: Settings,
    client_id: ClientId,
    alg: KeyAlgorithm | str,
    credentials_path: Path,
    *,
    keep_old: bool = False,
) -> OAuthClient:
    """Give a client a new key pair made here; its new credentials file holds the new private key."""
    registry = SqlClientRegistry(db)
    if await registry.get(client_id) is None:
        raise NotRegistered(f"No client '{client_id}' is registered (see `phigate client list`).")
    with _credentials_file(_credentials_target(credentials_path, client_id)) as file:
        private_jwk, public_jwk = client_key(KeyAlgorithm(alg))
        client = await registry.set_keys(client_id, jwks={"keys": [public_jwk]}, keep_old=keep_old)
        _write(file, credentials(client, settings, private_jwk=private_jwk))
    return client


def check_public_keys(jwks: Mapping[str, Any]) -> None:
    """Check ``jwks`` as the domain does, then load each key as the token endpoint will (curve point...)."""
    for index, key in enumerate(check_jwks(jwks)["keys"]):
        try:
            import_public_key(key, algorithms=ASSERTION_ALGORITHMS.values())
        except ValueError as exc:
            raise RegistrationError(f"jwks.keys.{index}", str(exc)) from None


def client_key(alg: KeyAlgorithm) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new key pair whose public half names its key id (the JWK thumbprint), algorithm and use."""
    private_jwk, public_jwk = generate_client_key(alg.value)
    labels = {"kid": public_jwk.get("kid") or jwk_thumbprint(public_jwk), "alg": alg.value, "use": "sig"}
    return {**private_jwk, **labels}, {**public_jwk, **labels}


def credentials(
    client: OAuthClient,
    settings: Settings,
    *,
    private_jwk: Mapping[str, Any] | None = None,
    client_secret: str | None = None,
) -> dict[str, Any]:
    """What a third party's developer needs to get a token: the contents of a credentials file."""
    endpoints = Endpoints.of(settings)
    secret: dict[str, Any] = (
        {"private_jwk": dict(private_jwk)} if private_jwk is not None else {"client_secret": client_secret}
    )
    return {
        "client_id": client.client_id,
        "vendor_id": client.vendor_id,
        **secret,
        "token_endpoint": endpoints.token,
        "fhir_base": endpoints.fhir_bases[0],
        "scopes": client.scopes,
    }


def _credentials_target(path: Path, client_id: ClientId) -> Path:
    return path / f"{client_id}.json" if path.is_dir() else path


@contextmanager
def _credentials_file(path: Path) -> Iterator[IO[str]]:
    """A new file only its owner can read, removed again when the block fails."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(
            problems=[f"credentials file {path} already exists: phigate never overwrites credentials"]
        ) from None
    except OSError as exc:
        raise ConfigError(problems=[f"credentials file {path} cannot be created ({exc.strerror})"]) from None
    file = os.fdopen(descriptor, "w", encoding="utf-8")
    try:
        yield file
    except BaseException:
        file.close()
        path.unlink(missing_ok=True)
        raise
    file.close()


def _write(file: IO[str], payload: Mapping[str, Any]) -> None:
    file.write(json.dumps(payload, indent=2) + "\n")
    file.flush()
    os.fsync(file.fileno())


# --- commands -----------------------------------------------------------------------------------------

CredentialsOption = Annotated[
    Path | None,
    typer.Option(
        "--credentials-out", help="New file (or existing directory) for the credentials; mode 0600."
    ),
]
AlgOption = Annotated[KeyAlgorithm, typer.Option("--alg", help="Algorithm of a generated key.")]
JwksFileOption = Annotated[
    Path | None, typer.Option("--jwks-file", help="A JSON Web Key Set with the client's public keys.")
]


@client_app.command("add")
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
    chosen = [f for f, on in _key_sources(jwks_file, jwks_uri, generate_key, client_secret).items() if on]

    async def work(resolved: ResolvedSettings) -> OAuthClient:
        encryption = _jwks(encryption_jwks_file) if encryption_jwks_file is not None else None
        if encryption is not None:
            check_encryption_keys(encryption)  # before anything is registered
        client = await register(resolved)
        if encryption is None:
            return client
        async with migrated_database(resolved) as db:
            return await SqlClientRegistry(db).set_encryption_keys(client.client_id, encryption)

    async def register(resolved: ResolvedSettings) -> OAuthClient:
        if len(chosen) != 1:
            raise _usage("give exactly one of --jwks-file, --jwks-uri, --generate-key or --client-secret")
        out = _credentials_option(credentials_out, needed=generate_key or client_secret)
        binding, thumbprint = _binding(token_binding, mtls_cert)
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
                jwks=_jwks(jwks_file) if jwks_file else None, jwks_uri=jwks_uri,
                client_id=client_id, token_binding=binding, mtls_thumbprint=thumbprint,
            )  # fmt: skip

    client = run_with_settings(config, work)
    written = f"; credentials written to {credentials_out} (keep it secret)" if credentials_out else ""
    emit(
        client_view(client),
        as_json,
        lambda v: f"registered client {v['client_id']} for {v['vendor_id']}{written}",
    )


@client_app.command("list")
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


@client_app.command("show")
def show(
    client_id: Annotated[str, typer.Argument(help="The client id.")],
    config: ConfigOption = Path("phigate.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Show one client: scopes, status, binding and its public key ids."""

    async def work(resolved: ResolvedSettings) -> dict[str, Any]:
        async with migrated_database(resolved) as db:
            return client_view(await _required_client(db, ClientId(client_id)))

    emit(run_with_settings(config, work), as_json, _render_client)


@client_app.command("rotate-key")
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
    chosen = [f for f, on in _key_sources(jwks_file, jwks_uri, generate_key, False).items() if on]

    async def work(resolved: ResolvedSettings) -> OAuthClient:
        if len(chosen) != 1:
            raise _usage("give exactly one of --jwks-file, --jwks-uri or --generate-key")
        out = _credentials_option(credentials_out, needed=generate_key)
        async with migrated_database(resolved) as db:
            if out is not None:
                return await rotate_client_key(
                    db, resolved.settings, ClientId(client_id), alg, out, keep_old=keep_old
                )
            await _required_client(db, ClientId(client_id))
            jwks = _jwks(jwks_file) if jwks_file else None
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


encryption_app = typer.Typer(
    no_args_is_help=True,
    help="Keys the gateway encrypts responses to (JWE), when the client's data contract asks for it.",
)
client_app.add_typer(encryption_app, name="encryption-key")
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
        jwks = _jwks(jwks_file) if jwks_file is not None else None
        if jwks is not None:
            check_encryption_keys(jwks)
        async with migrated_database(resolved) as db:
            await _required_client(db, client_id)
            return await SqlClientRegistry(db).set_encryption_keys(client_id, jwks, keep_old=keep_old)

    client = run_with_settings(config, work)
    keys = ", ".join(client.encryption_key_ids) or "none"
    emit(client_view(client), as_json, lambda v: f"client {v['client_id']} encryption keys: {keys}")


def check_encryption_keys(jwks: Mapping[str, Any]) -> None:
    """Check ``jwks`` as the domain does, then import each key as the gateway will (curve point, size)."""
    for index, key in enumerate(check_encryption_jwks(jwks)["keys"]):
        try:
            import_encryption_key(key)
        except ValueError as exc:
            raise RegistrationError(f"encryption_jwks.keys.{index}", str(exc)) from None


@client_app.command("disable")
def disable(
    client_id: Annotated[str, typer.Argument(help="The client id.")],
    config: ConfigOption = Path("phigate.yaml"),
) -> None:
    """Stop issuing tokens to a client (its record stays, for the audit trail)."""
    _set_status(config, ClientId(client_id), ClientStatus.disabled)
    typer.echo(f"client {client_id} is disabled")


@client_app.command("enable")
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
                await admit_new_client(db, resolved, (await _required_client(db, client_id)).vendor_id)
            return await SqlClientRegistry(db).set_status(client_id, status)

    run_with_settings(config, work)


# --- helpers of the commands --------------------------------------------------------------------------


async def admit_new_client(db: Database, resolved: ResolvedSettings, vendor_id: VendorId) -> None:
    """A client added to a vendor, or enabled again, is a new grant: refused (409) while the vendor's
    security review is overdue (A.7) and for ever once it is offboarded (A.11)."""
    keyring = await Keyring.open(SqlDataKeyStore(db), master_key_from_settings(resolved))
    check_new_client(await SqlVendorRisk(db, keyring).dossier(vendor_id), datetime.now(UTC).date())


async def _required_client(db: Database, client_id: ClientId) -> OAuthClient:
    client = await SqlClientRegistry(db).get(client_id)
    if client is None:
        raise NotRegistered(f"No client '{client_id}' is registered (see `phigate client list`).")
    return client


def _key_sources(
    jwks_file: Path | None, jwks_uri: str | None, generate: bool, secret: bool
) -> dict[str, bool]:
    return {
        "--jwks-file": jwks_file is not None,
        "--jwks-uri": jwks_uri is not None,
        "--generate-key": generate,
        "--client-secret": secret,
    }


def _usage(reason: str) -> ConfigError:
    return ConfigError(problems=[reason])


def _credentials_option(path: Path | None, *, needed: bool) -> Path | None:
    if needed and path is None:
        raise _usage("--credentials-out FILE is needed: the new private key or secret is written there only")
    if not needed and path is not None:
        raise _usage("--credentials-out goes with --generate-key or --client-secret")
    return path


def _binding(binding: TokenBinding | None, mtls_cert: Path | None) -> tuple[TokenBinding, str | None]:
    if mtls_cert is None:
        if binding is TokenBinding.mtls:
            raise _usage("--token-binding mtls needs --mtls-cert FILE (the client's certificate)")
        return binding or TokenBinding.none, None
    if binding not in (None, TokenBinding.mtls):
        raise _usage("--mtls-cert goes with --token-binding mtls")
    try:
        der = ssl.PEM_cert_to_DER_cert(mtls_cert.read_text(encoding="ascii").strip())
        return TokenBinding.mtls, certificate_thumbprint(der)
    except (OSError, UnicodeDecodeError, ValueError):
        raise _usage(f"--mtls-cert: {mtls_cert} cannot be read as a PEM certificate") from None


def _jwks(path: Path) -> dict[str, Any]:
    try:
        parsed = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _usage(f"--jwks-file: {path} cannot be read ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _usage(f"--jwks-file: {path} is not JSON") from None
    if not isinstance(parsed, dict):
        raise _usage(f'--jwks-file: {path} is not a JSON Web Key Set ({{"keys": [...]}})')
    return parsed


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
