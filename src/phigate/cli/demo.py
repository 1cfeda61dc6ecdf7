"""``phigate demo``: the embedded demo EHR behind the gateway, on loopback, with state in one folder."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

import typer
import uvloop
import yaml

from phigate.adapters.kms import generate_master_key
from phigate.adapters.pki import DevPki, ensure_dev_pki
from phigate.adapters.sql.vendors import SqlVendorRegistry
from phigate.asgi.runtime import run_node
from phigate.asgi.server import BoundListener, Listener
from phigate.cli.client_registration import register_client
from phigate.cli.demo_vendors import seed_demo_posture
from phigate.cli.output import fail, reported_errors
from phigate.cli.store import migrated_database
from phigate.cli.users import DEMO_APP, DEMO_PASSWORD, DEMO_REDIRECT, seed_demo_people
from phigate.cli.vendor_registry import register_vendor
from phigate.demo.ehr import create_ehr_app
from phigate.demo.store import ResourceStore
from phigate.demo.synthetic import generate
from phigate.oauth.rfc7636 import s256
from phigate.settings import ListenerSettings, ResolvedSettings, TlsSettings, load_settings
from phigate.types import VendorId

LOOPBACK = "127.0.0.1"


def demo(
    reset: Annotated[bool, typer.Option("--reset", help="Delete the demo state and start fresh.")] = False,
    directory: Annotated[Path, typer.Option("--dir", help="Where the demo keeps its state.")] = Path(
        ".phigate-demo"
    ),
    public_port: Annotated[int, typer.Option(help="Gateway public (FHIR) port.")] = 8443,
    admin_port: Annotated[int, typer.Option(help="Gateway admin port.")] = 9443,
    ehr_port: Annotated[int, typer.Option(help="Demo EHR (upstream) port.")] = 8880,
    patients: Annotated[int, typer.Option(min=100, max=5000, help="Synthetic patients in the EHR.")] = 120,
) -> None:
    with reported_errors():
        if reset and directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory = directory.resolve()
        pki = ensure_dev_pki(directory / "pki")
        _ensure_master_key(directory / "master.key")
        config = _write_config(directory, pki, public_port, admin_port, ehr_port)
        resolved = load_settings(config)
        store = ResourceStore(generate(patients=patients), directory / "ehr-journal.ndjson")
        ehr = Listener(
            create_ehr_app(store, "/fhir"),
            ListenerSettings(
                host=LOOPBACK,
                port=ehr_port,
                tls=TlsSettings(cert_file=pki.server_cert, key_file=pki.server_key),
            ),
            "ehr",
        )
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            people = runner.run(seed_demo_people(resolved))  # people and their app (issue 4)
            # after the people: every demo vendor (the app's too) gets its posture records (issue 9)
            clients = runner.run(seed_demo_parties(resolved, directory / "clients"))
            quickstart = partial(_quickstart, pki=pki, directory=directory, clients=clients, people=people)
            runner.run(run_node(resolved, [ehr], on_ready=quickstart))
    typer.echo("phigate demo stopped.")


LAB_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
DEMO_PARTIES = (
    # vendor id, vendor name, client id, client name, registered scopes
    ("acme-diagnostics", "Acme Diagnostics", "acme-lab", "Acme lab results feed",
     f"system/Observation.rs?category={LAB_CATEGORY} system/DiagnosticReport.rs system/Patient.r"),
    ("medbill", "MedBill Payments", "medbill-claims", "MedBill claims processing",
     "system/Claim.rs system/Coverage.rs system/Patient.r"),
    ("cohort-research", "Cohort Research Institute", "cohort-study", "Cohort study extraction",
     "system/Observation.s system/Condition.s system/Patient.s"),
)  # fmt: skip


# Data contracts of the demo parties (issue 7): the lab gets recent lab results with the elements a
# lab feed needs; billing gets claims and coverage, nothing clinical; research gets Safe Harbor data.
DEMO_CONTRACTS = {
    "clients": {
        "acme-lab": {
            "resources": {
                "Observation": {
                    "elements": ["status", "category", "code", "subject", "effective", "value",
                                 "referenceRange"],
                    "search": {"category": LAB_CATEGORY, "date": "ge{now-1825d}"},
                },
                "DiagnosticReport": {"search": {"category": "LAB"}},
                "Patient": {"interactions": ["read"], "elements": ["name", "gender", "birthDate"]},
            },
            "purposes": ["TREAT"],
        },
        "medbill-claims": {
            "resources": {
                "Claim": {}, "Coverage": {},
                "Patient": {"interactions": ["read"],
                            "elements": ["name", "identifier", "address", "birthDate"]},
            },
            "purposes": ["HPAYMT"],
        },
    },
    "vendors": {
        "cohort-research": {
            "resources": {"Observation": {"interactions": ["search"]},
                          "Condition": {"interactions": ["search"]},
                          "Patient": {"interactions": ["search"]}},
            "purposes": ["HRESCH"],
            "masking": {"preset": "safe-harbor"},
        },
    },
}  # fmt: skip


async def seed_demo_parties(resolved: ResolvedSettings, clients_dir: Path) -> list[Path]:
    """The demo's third parties, registered once; their credentials files, for the quickstart."""
    clients_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before serving
    async with migrated_database(resolved) as db:
        for vendor_id, vendor_name, client_id, client_name, scopes in DEMO_PARTIES:
            credentials = clients_dir / f"{client_id}.json"
            if credentials.exists():
                continue
            if await SqlVendorRegistry(db).get(VendorId(vendor_id)) is None:
                await register_vendor(db, vendor_name, vendor_id)
            await register_client(
                db, resolved.settings, VendorId(vendor_id), client_name, scopes, "ES384", credentials,
                client_id=client_id,
            )  # fmt: skip
    await seed_demo_posture(resolved)  # issue 9: three standings, so posture gating shows at once
    return [clients_dir / f"{party[2]}.json" for party in DEMO_PARTIES]


def _ensure_master_key(path: Path) -> None:
    if path.exists():
        return
    path.touch(mode=0o600)
    path.write_text(generate_master_key() + "\n", encoding="utf-8")


def _write_config(directory: Path, pki: DevPki, public_port: int, admin_port: int, ehr_port: int) -> Path:
    """The demo's phigate.yaml, written afresh each run from the options (the state lives beside it)."""
    for port in (public_port, admin_port, ehr_port):
        if not 1 <= port <= 65535:
            fail(f"port {port} is not between 1 and 65535")
    tls = {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
    config = {
        "environment": "production",
        "node_id": "demo",
        "listeners": {
            "public": {"host": LOOPBACK, "port": public_port, "tls": tls},
            "admin": {"host": LOOPBACK, "port": admin_port, "tls": tls},
            "drain_seconds": 5,
        },
        "upstreams": {
            "demo-ehr": {
                "targets": [{"url": f"https://{LOOPBACK}:{ehr_port}/fhir"}],
                "ca_file": str(pki.ca_cert),
                "health_check": {"path": "/metadata", "interval_seconds": 5},
            }
        },
        "routes": [{"base": "/fhir", "upstream": "demo-ehr"}],
        "storage": {"url": "sqlite+aiosqlite:///phigate.db"},
        "master_key": {"file": "master.key"},
        "logging": {"level": "warning", "format": "console"},
        "contracts": DEMO_CONTRACTS,  # what each demo party may receive (issue 7)
    }
    path = directory / "phigate.yaml"
    path.write_text("# Written by `phigate demo` on every start.\n" + yaml.safe_dump(config, sort_keys=False))
    return path


def _quickstart(
    bound: Sequence[BoundListener],
    pki: DevPki,
    directory: Path,
    clients: list[Path],
    people: Sequence[str] = (),
) -> None:
    urls = {listener.name: listener.url for listener in bound}
    public, ca, lab = urls["public"], pki.ca_cert, clients[0]
    parties = "\n".join(f"  {path.stem:<16} {path}" for path in clients)
    typer.echo(
        f"""
phigate demo is running (state in {directory}/; Ctrl-C stops it).

  gateway, public FHIR API   {public}/fhir
  gateway, admin (metrics)   {urls["admin"]}/metrics
  demo EHR (the upstream)    {urls["ehr"]}/fhir

Third parties (SMART Backend Services clients; their credentials hold private keys):
{parties}

Try:
  curl --cacert {ca} {public}/fhir/metadata
      the CapabilityStatement, public as FHIR requires
  curl --cacert {ca} {public}/fhir/Patient
      401 OperationOutcome: every data request needs an access token (default deny)
  TOKEN=$(phigate token --credentials {lab} --cacert {ca})
      client_credentials with a signed client assertion (private_key_jwt)
  curl --cacert {ca} -H "Authorization: Bearer $TOKEN" \\
       "{public}/fhir/Observation?patient=pat-canary&category=laboratory"
      lab results: within acme-lab's scopes
  curl --cacert {ca} -H "Authorization: Bearer $TOKEN" {public}/fhir/Claim
      403 OperationOutcome naming the missing permission
  curl --cacert {ca} {urls["admin"]}/metrics
      Prometheus metrics of the gateway
  curl --cacert {ca} {urls["ehr"]}/fhir/Patient?_count=2
      the upstream itself, which the gateway protects
"""
    )
    typer.echo(_people_quickstart(public, people, directory / "phigate.yaml"))


def _people_quickstart(public: str, people: Sequence[str], config: Path) -> str:
    """Issue 4: the browser flow (SMART standalone launch with PKCE) for the demo's people and app."""
    verifier = "demo-verifier-" + "0" * 40  # a fixed PKCE verifier, so the steps can be pasted as they are
    query = urlencode({"response_type": "code", "client_id": DEMO_APP, "redirect_uri": DEMO_REDIRECT,
                       "scope": "openid fhirUser launch/patient patient/*.rs", "state": "demo-state",
                       "aud": public + "/fhir", "code_challenge": s256(verifier),
                       "code_challenge_method": "S256"})  # fmt: skip
    shown = "\n".join(people) or "  (TOTP secrets were shown when the demo first started)"
    return f"""People (password {DEMO_PASSWORD}):
  canary (patient, Patient/pat-canary), dr.demo (clinician, Practitioner/prac-01, TOTP)
{shown}
Browser flow: open this, sign in as canary, allow; the address bar then holds ?code=...
  {public}/oauth2/authorize?{query}
  curl --cacert <ca> -d grant_type=authorization_code -d client_id={DEMO_APP} \\
       -d redirect_uri={DEMO_REDIRECT} -d code_verifier={verifier} -d code=<code> {public}/oauth2/token
  Signed in as dr.demo instead, the patient picker asks which patient first (try "Allen").
EHR launch: phigate launch create {DEMO_APP} --patient pat-0001 --user dr.demo --config {config}
  prints a launch value; add &launch=<value> to the link above and put "launch" in its scope.
"""
