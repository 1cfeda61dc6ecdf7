"""``phigate contract``: the data contracts of the config, listed, shown, and explained by a dry run.

Contracts are defined in the config (``contracts:`` in phigate.yaml), not in the
database: ``list`` and ``show`` read them from there (checked as a node would
check them at start-up); change them by editing the config and restarting.
``show --client ID`` names the contract that applies to a registered client
(its own, else its vendor's default) and the encryption keys it registered.

``phigate contract explain --client ID "GET /fhir/Observation?patient=123"``
shows the request the gateway would send upstream (the contract's constraints
ANDed in, the page size capped) or the rule that refuses it; and, unless
``--offline``, sends that request to the live upstream and shows what the
client would receive and what was removed or masked by which rule. The token's
scopes are not evaluated (there is no token): the contract alone is explained.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import orjson
import typer

from phigate.adapters.sql import SqlSecretStore
from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.cli.output import emit, fail, reported_errors
from phigate.cli.store import migrated_database, open_keyring
from phigate.errors import RequestError
from phigate.fhir.parser import parse_request
from phigate.pipeline.contracts import ContractEnforcement
from phigate.ports import SecretStore
from phigate.proxy import UpstreamPool, UpstreamRequest
from phigate.settings import Settings, load_settings
from phigate.settings.contracts import ContractSettings
from phigate.shaping.contracts import Contract, compile_contracts
from phigate.shaping.minimise import Bases, needs_body, shape_document
from phigate.shaping.narrowing import narrow
from phigate.shaping.tally import Tally
from phigate.types import ClientId

contract_app = typer.Typer(
    no_args_is_help=True,
    help="Data contracts: what each third party may receive. Contracts are defined in the config "
    "(contracts: in phigate.yaml, per client and per vendor); these commands read them from there.",
)
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The phigate.yaml to use.")]
MAX_EXPLAINED_BYTES = 32 * 1024 * 1024
SEALED_PLACEHOLDER = "(encrypted in place: a compact JWE to the client's registered key)"


@contract_app.command("list")
def list_contracts(
    config: ConfigOption = Path("phigate.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List the contracts defined in the config (contracts.clients and contracts.vendors)."""
    with reported_errors():
        contracts = load_settings(config).settings.contracts
        compile_contracts(contracts)  # a contract a node would refuse is reported, not listed
    views = [
        *(contract_summary(f"contracts.clients.{name}", c) for name, c in contracts.clients.items()),
        *(contract_summary(f"contracts.vendors.{name}", c) for name, c in contracts.vendors.items()),
    ]
    emit(views, as_json, _render_list)


@contract_app.command("show")
def show(
    client: Annotated[
        str | None, typer.Option("--client", help="A client id: shows the contract that applies to it.")
    ] = None,
    vendor: Annotated[str | None, typer.Option("--vendor", help="A vendor id: shows its default.")] = None,
    config: ConfigOption = Path("phigate.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Show one contract, as configured: the client's own, else its vendor's default."""
    if (client is None) == (vendor is None):
        fail("Give exactly one of --client or --vendor.")
    with reported_errors():
        resolved = load_settings(config)
        compile_contracts(resolved.settings.contracts)
        view = asyncio.run(_show(resolved, client, vendor))
    emit(view, as_json, _render_show)


async def _show(resolved: Any, client_id: str | None, vendor_id: str | None) -> dict[str, Any]:
    contracts = resolved.settings.contracts
    view: dict[str, Any] = {"client": client_id, "vendor": vendor_id}
    if client_id is not None:
        async with migrated_database(resolved) as db:
            registered = await SqlClientRegistry(db).get(ClientId(client_id))
        if registered is None and client_id not in contracts.clients:
            fail(f"No client '{client_id}' is registered (see `phigate client list`).")
        if registered is not None:
            view["vendor"] = registered.vendor_id
            view["encryption_keys"] = list(registered.encryption_key_ids)
    if client_id is not None and client_id in contracts.clients:
        key, chosen = f"contracts.clients.{client_id}", contracts.clients[client_id]
    elif view["vendor"] is not None and view["vendor"] in contracts.vendors:
        key, chosen = f"contracts.vendors.{view['vendor']}", contracts.vendors[view["vendor"]]
    else:
        view["contract"] = None
        view["note"] = "No contract applies: the client receives what its scopes allow, unchanged."
        return view
    view["contract"] = {**contract_summary(key, chosen), "terms": chosen.model_dump(mode="json")}
    return view


def contract_summary(key: str, contract: ContractSettings) -> dict[str, Any]:
    """One contract in brief: its key path, resource types and interactions, purposes, masking, encryption."""
    sealed = [rule.path for rule in contract.masking.rules if rule.method == "encrypt"]
    return {
        "key": key,
        "resources": {name: list(terms.interactions) for name, terms in contract.resources.items()},
        "operations": list(contract.operations),
        "purposes": list(contract.purposes),
        "masking": {"preset": contract.masking.preset, "rules": len(contract.masking.rules)},
        "encryption": {"responses": contract.encryption.responses, "elements": sealed},
    }


def _render_list(views: list[dict[str, Any]]) -> str:
    if not views:
        return "no contracts in the config (add them under contracts: in phigate.yaml)"
    return "\n".join(_summary_line(view) for view in views)


def _summary_line(view: dict[str, Any]) -> str:
    types = ", ".join(f"{name} ({'/'.join(acts)})" for name, acts in view["resources"].items())
    masking = view["masking"]["preset"] or f"{view['masking']['rules']} rules"
    encryption = view["encryption"]["responses"]
    if view["encryption"]["elements"]:
        encryption += f" + {len(view['encryption']['elements'])} sealed elements"
    return f"{view['key']}: {types}; masking {masking}; encryption {encryption}"


def _render_show(view: dict[str, Any]) -> str:
    who = f"client {view['client']}" if view["client"] else f"vendor {view['vendor']}"
    lines = [f"{who}" + (f" (vendor {view['vendor']})" if view["client"] and view["vendor"] else "")]
    if view["contract"] is None:
        return "\n".join([*lines, view["note"]])
    lines.append(_summary_line(view["contract"]))
    if "encryption_keys" in view:
        lines.append(f"registered encryption keys: {', '.join(view['encryption_keys']) or 'none'}")
    lines.append(orjson.dumps(view["contract"]["terms"], option=orjson.OPT_INDENT_2).decode())
    return "\n".join(lines)


@contract_app.command("explain")
def explain(
    request: Annotated[str, typer.Argument(help='The request, such as "GET /fhir/Observation?patient=123".')],
    client: Annotated[str, typer.Option("--client", help="The client id whose contract applies.")],
    config: ConfigOption = Path("phigate.yaml"),
    offline: Annotated[
        bool, typer.Option("--offline", help="Only narrow; do not call the upstream.")
    ] = False,
    purpose: Annotated[str | None, typer.Option("--purpose", help="A PurposeOfUse code.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Show the narrowed upstream request and what the client would receive (removed and masked, by rule)."""
    with reported_errors():
        resolved = load_settings(config)
        result = asyncio.run(_explain_with_store(resolved, client, request, offline, purpose))
    emit(result, as_json, render)
    if result.get("refused"):
        raise typer.Exit(2)


async def _explain_with_store(
    resolved: Any, client_id: str, request_line: str, offline: bool, purpose: str | None
) -> dict[str, Any]:
    async with migrated_database(resolved) as db:
        keyring = await open_keyring(db, resolved)
        registered = await SqlClientRegistry(db).get(ClientId(client_id))
        if registered is None:
            fail(f"No client '{client_id}' is registered (see `phigate client list`).")
        return await explain_request(
            resolved.settings, client_id, registered.vendor_id, request_line, SqlSecretStore(db, keyring),
            now=time.time(), live=not offline, purpose=purpose,
        )  # fmt: skip


async def explain_request(
    settings: Settings, client_id: str, vendor_id: str, request_line: str, store: SecretStore, *,
    now: float, live: bool = True, purpose: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The explanation as a JSON-ready dict (the same the gateway would do, without a token)."""
    enforcement = ContractEnforcement.from_settings(settings.contracts)
    contract = enforcement.book.for_client(client_id, vendor_id)
    method, route_base, upstream_name, path, query = _split(settings, request_line)
    result: dict[str, Any] = {"client": client_id, "vendor": vendor_id, "request": request_line}
    if contract is None:
        result["contract"] = None
        result["note"] = "No contract applies: the client receives what its scopes allow, unchanged."
        return result
    result["contract"] = contract.key
    fhir = parse_request(method, path, query)
    narrowing = narrow(fhir, contract, now, purpose)
    if narrowing.refusal is not None:
        return {**result, "refused": narrowing.refusal}
    upstream_settings = settings.upstreams[upstream_name]
    narrowed_query = narrowing.request.to_query() if narrowing.added else query
    target = upstream_settings.targets[0].url
    result["upstream_request"] = f"{method} {target}{path}" + (f"?{narrowed_query}" if narrowed_query else "")
    result["narrowed"] = list(narrowing.added)
    if not live:
        return result
    async with UpstreamPool(upstream_name, upstream_settings) as pool:
        response = await pool.send(UpstreamRequest(method=method, path=path, query=narrowed_query))
        raw = await response.read(MAX_EXPLAINED_BYTES)
    result["upstream_status"] = response.status
    if response.status >= 300 or not needs_body(contract, narrowing.request):
        result["received"] = orjson.loads(raw) if raw else None
        result["unchanged"] = True
        return result
    await enforcement.load(store)
    bases = Bases(tuple(t.url for t in upstream_settings.targets), f"https://gateway{route_base}")
    return {**result, **_shaped(raw, contract, enforcement, vendor_id, now, bases)}


def _shaped(
    raw: bytes, contract: Contract, enforcement: ContractEnforcement, vendor_id: str, now: float, bases: Bases
) -> dict[str, Any]:
    document = orjson.loads(raw)
    tally = Tally(contract.key)
    keys = enforcement.keys.for_vendor(vendor_id) if contract.masking is not None else None
    # A dry run shows where an element would be sealed, not ciphertext no one here can read.
    refusal = shape_document(document, contract, keys, now, bases, tally, seal=_shown_sealed)
    fact = tally.as_fact()
    if refusal is not None:
        return {"refused": refusal, "removed_or_masked": fact}
    if contract.encrypt:
        keys_for = enforcement.encryption.get(contract.key, ())
        fact["encrypted"] = f"jwe:{keys_for[0].alg}:{keys_for[0].kid}" if keys_for else "jwe:no key"
    return {"received": document, "removed_or_masked": fact}


def _shown_sealed(value: object) -> str:
    return SEALED_PLACEHOLDER


def _split(settings: Settings, request_line: str) -> tuple[str, str, str, str, str]:
    method, _, target = request_line.strip().partition(" ")
    parts = urlsplit(target.strip())
    for route in sorted(settings.routes, key=lambda r: len(r.base), reverse=True):
        if parts.path == route.base or parts.path.startswith(route.base + "/"):
            return (
                method.upper(),
                route.base,
                route.upstream,
                parts.path[len(route.base) :] or "/",
                parts.query,
            )
    raise RequestError(
        "The request must be METHOD /<route base>/..., such as GET /fhir/Observation?patient=123."
    )


def render(result: dict[str, Any]) -> str:
    lines = [f"client {result['client']} (vendor {result['vendor']}): {result['request']}"]
    if result.get("contract") is None:
        return "\n".join([*lines, result.get("note", "")])
    lines.append(f"contract: {result['contract']}")
    if "upstream_request" in result:
        lines.append(f"upstream request: {result['upstream_request']}")
    if result.get("refused"):
        lines.append(f"refused (403): {result['refused']}")
    if result.get("unchanged"):
        lines.append("the response leaves unchanged (streamed, not parsed)")
    fact = result.get("removed_or_masked") or {}
    for name in ("entries_removed", "elements_removed", "masked_by", "redacted_by"):
        for rule, count in (fact.get(name) or {}).items():
            lines.append(f"  {name.replace('_', ' ')}: {count} by {rule}")
    if fact.get("encrypted"):
        lines.append(f"  encrypted: {fact['encrypted']}")
    if result.get("received") is not None:
        lines.append("the client would receive:")
        lines.append(orjson.dumps(result["received"], option=orjson.OPT_INDENT_2).decode())
    return "\n".join(lines)
