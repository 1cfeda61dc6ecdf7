"""``phigate keys``: master-key rotation, data-key rotation and the keyring's status.

Rotating the master key without downtime::

    phigate keys rotate --new-master-key-file new.key   # every data key gains a wrap under the new key
    (restart each node with master_key pointing at the new key)
    phigate keys retire --kek-id <old id>               # from a node on the new key
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from phigate.adapters.kms import (
    Keyring,
    KeyringStatus,
    LocalMasterKey,
    generate_master_key,
    master_key_from_settings,
)
from phigate.adapters.sql import Database, SqlDataKeyStore, open_database
from phigate.cli.output import emit, fail, reported_errors
from phigate.errors import ConfigError
from phigate.settings import ResolvedSettings, SecretSource, load_settings, read_secret

keys_app = typer.Typer(no_args_is_help=True, help="Master keys and data keys of encryption at rest.")

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The phigate.yaml to use.")]
T = TypeVar("T")


@keys_app.command()
def status(
    config: ConfigOption = Path("phigate.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """List master-key ids and data keys, never key material.

    Exits 1 when the configured master key cannot open the data keys.
    """
    result = _run(config, _status)
    emit(_status_payload(result), as_json, _render_status)
    if result.problem is not None:
        fail(result.problem)


@keys_app.command()
def rotate(
    config: ConfigOption = Path("phigate.yaml"),
    new_file: Annotated[
        Path | None, typer.Option("--new-master-key-file", help="File holding the new master key.")
    ] = None,
    new_env: Annotated[
        str | None, typer.Option("--new-master-key-env", help="Variable holding the new master key.")
    ] = None,
) -> None:
    """Wrap every data key under a new master key too (the current one, from the config, keeps working)."""
    with reported_errors():
        new_key = _new_master_key(new_file, new_env)

    async def rewrap(keyring: Keyring, _: Database) -> tuple[int, str]:
        return await keyring.rewrap(new_key), keyring.kek_id

    added, old_kek_id = _run(config, _with_keyring(rewrap))
    typer.echo(
        f"wrapped {added} data key(s) under {new_key.key_id}; restart every node with the new master key, "
        f"then run: phigate keys retire --kek-id {old_kek_id}"
    )


@keys_app.command()
def retire(
    kek_id: Annotated[str, typer.Option("--kek-id", help="The old master key's id (see `keys status`).")],
    config: ConfigOption = Path("phigate.yaml"),
) -> None:
    """Remove an old master key's wraps, once every node runs with the new key."""

    async def remove(keyring: Keyring, _: Database) -> int:
        return await keyring.retire(kek_id)

    removed = _run(config, _with_keyring(remove))
    typer.echo(f"removed {removed} wrap(s) of {kek_id}")


@keys_app.command("rotate-data-key")
def rotate_data_key(config: ConfigOption = Path("phigate.yaml")) -> None:
    """Make a new active data key; values sealed with older data keys keep decrypting."""

    async def rotate(keyring: Keyring, _: Database) -> str:
        return await keyring.rotate_data_key()

    data_key_id = _run(config, _with_keyring(rotate))
    typer.echo(f"active data key is now {data_key_id}")


@keys_app.command("new-master-key")
def new_master_key(
    out: Annotated[Path, typer.Option("--out", help="File to create (readable by its owner only).")],
) -> None:
    """Write a new random master key to a new file; never prints the key."""
    with reported_errors():
        try:
            descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise ConfigError(problems=[f"--out: cannot create {out} ({exc.strerror})"]) from None
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(generate_master_key() + "\n")
    typer.echo(f"wrote a new master key to {out}")


def _run(config: Path, work: Callable[[ResolvedSettings], Coroutine[Any, Any, T]]) -> T:
    with reported_errors():
        return asyncio.run(work(load_settings(config)))


@asynccontextmanager
async def _database(resolved: ResolvedSettings) -> AsyncIterator[Database]:
    db = await open_database(resolved.storage_url.get_secret_value())
    try:
        await db.check_current()
        yield db
    finally:
        await db.close()


def _with_keyring(
    action: Callable[[Keyring, Database], Awaitable[T]],
) -> Callable[[ResolvedSettings], Coroutine[Any, Any, T]]:
    async def work(resolved: ResolvedSettings) -> T:
        kek = master_key_from_settings(resolved)
        async with _database(resolved) as db:
            return await action(await Keyring.open(SqlDataKeyStore(db), kek), db)

    return work


async def _status(resolved: ResolvedSettings) -> KeyringStatus:
    kek = master_key_from_settings(resolved)
    async with _database(resolved) as db:
        return KeyringStatus.of(await SqlDataKeyStore(db).data_keys(), kek.key_id)


def _new_master_key(new_file: Path | None, new_env: str | None) -> LocalMasterKey:
    if (new_file is None) == (new_env is None):
        raise ConfigError(problems=["give exactly one of --new-master-key-file or --new-master-key-env"])
    option = "--new-master-key-file" if new_file is not None else "--new-master-key-env"
    try:
        text = read_secret(SecretSource(file=new_file, env=new_env), os.environ)
    except ConfigError as exc:
        raise ConfigError(problems=[f"{option}: {p}" for p in exc.problems]) from None
    return LocalMasterKey.from_text(text, where=option)


def _status_payload(result: KeyringStatus) -> dict[str, Any]:
    return {
        "configured_kek_id": result.configured_kek_id,
        "kek_ids": list(result.kek_ids),
        "data_keys": [
            {
                "id": key.id,
                "generation": key.generation,
                "created_at": key.created_at.isoformat(),
                "kek_ids": list(key.kek_ids),
                "active": key.active,
            }
            for key in result.data_keys
        ],
        "problem": result.problem,
    }


def _render_status(payload: dict[str, Any]) -> str:
    opens = "cannot open the data keys" if payload["problem"] else "opens every data key"
    lines = [
        f"configured master key: {payload['configured_kek_id']} ({opens})",
        f"master keys in use: {', '.join(payload['kek_ids']) or 'none (no data key yet)'}",
        f"data keys: {len(payload['data_keys'])}",
    ]
    for key in payload["data_keys"]:
        active = "  (active)" if key["active"] else ""
        lines.append(
            f"  {key['generation']:>4}  {key['id']}  created {key['created_at']}"
            f"  wrapped by {', '.join(key['kek_ids'])}{active}"
        )
    return "\n".join(lines)
