"""`phigate demo` as a newcomer runs it: a real process, real listeners, Ctrl-C stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from fixtures.gateway_stack import free_port

PHIGATE = Path(sys.executable).parent / "phigate"


def wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 60) -> str:
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"{text!r} never printed; output was:\n{''.join(seen)}")


@contextmanager
def running_demo(state: Path, ports: dict[str, int], *extra: str) -> Iterator[subprocess.Popen[str]]:
    """``phigate demo`` in a process of its own, once its quickstart is printed; killed if a test fails."""
    command = [
        str(PHIGATE), "demo", "--dir", str(state), *extra,
        "--public-port", str(ports["public"]), "--admin-port", str(ports["admin"]),
        "--ehr-port", str(ports["ehr"]),
    ]  # fmt: skip
    with subprocess.Popen(
        command, cwd=state.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as process:  # fmt: skip
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def new_ports() -> dict[str, int]:
    return {"public": free_port(), "admin": free_port(), "ehr": free_port()}


def test_demo_serves_metadata_denies_data_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    state, ports = tmp_path / "state", new_ports()
    with running_demo(state, ports) as process:
        quickstart = wait_for_line(process, "the upstream itself")
        check_running_demo(process, quickstart, state, ports)


def check_running_demo(
    process: subprocess.Popen[str], quickstart: str, state: Path, ports: dict[str, int]
) -> None:
    ca = state / "pki" / "ca.crt"
    assert f"https://127.0.0.1:{ports['public']}/fhir" in quickstart
    assert f"curl --cacert {ca}" in quickstart
    verify = ssl.create_default_context(cafile=ca)
    with httpx.Client(verify=verify, timeout=10) as http:
        metadata = http.get(f"https://127.0.0.1:{ports['public']}/fhir/metadata")
        denied = http.get(f"https://127.0.0.1:{ports['public']}/fhir/Patient")
        metrics = http.get(f"https://127.0.0.1:{ports['admin']}/metrics")
        upstream = http.get(f"https://127.0.0.1:{ports['ehr']}/fhir/Patient", params={"_summary": "count"})
    assert metadata.status_code == 200 and metadata.json()["resourceType"] == "CapabilityStatement"
    assert denied.status_code == 401 and denied.json()["resourceType"] == "OperationOutcome"
    assert "phigate_exchanges_total" in metrics.text
    assert upstream.json()["total"] >= 100
    for name in ("phigate.yaml", "master.key", "phigate.db", "pki/ca.crt", "pki/server.key"):
        assert (state / name).exists(), name
    assert (state / "master.key").stat().st_mode & 0o077 == 0
    check_quickstart_token_flow(state, ports)

    process.send_signal(signal.SIGINT)
    assert process.wait(20) == 0
    assert process.stdout is not None
    rest = process.stdout.read()
    assert "phigate demo stopped." in rest
    assert "Traceback" not in rest


def check_quickstart_token_flow(state: Path, ports: dict[str, int]) -> None:
    """What the quickstart tells a third party's developer to do, done as they would: the CLI, then reads."""
    ca = state / "pki" / "ca.crt"
    lab = state / "clients" / "acme-lab.json"
    assert lab.stat().st_mode & 0o077 == 0
    credentials = json.loads(lab.read_text())
    assert {
        "client_id",
        "vendor_id",
        "private_jwk",
        "token_endpoint",
        "fhir_base",
        "scopes",
    } <= credentials.keys()
    token = subprocess.run(
        [str(PHIGATE), "token", "--credentials", str(lab), "--cacert", str(ca)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    headers = {"authorization": f"Bearer {token}"}
    base = f"https://127.0.0.1:{ports['public']}/fhir"
    with httpx.Client(verify=ssl.create_default_context(cafile=ca), timeout=10) as http:
        labs = http.get(
            f"{base}/Observation", params={"patient": "pat-canary", "category": "laboratory"}, headers=headers
        )
        claims = http.get(f"{base}/Claim", headers=headers)
    assert labs.status_code == 200 and labs.json()["entry"], labs.text
    assert claims.status_code == 403 and "system/Claim" in claims.json()["issue"][0]["diagnostics"]


def test_demo_keeps_its_state_and_reset_starts_fresh(tmp_path: Path) -> None:
    state, ports = tmp_path / "state", new_ports()

    def run_once(*extra: str) -> str:
        with running_demo(state, ports, *extra) as process:
            wait_for_line(process, "the upstream itself")
            process.send_signal(signal.SIGTERM)
            assert process.wait(20) == 0
        return (state / "master.key").read_text()

    first = run_once()
    assert run_once() == first  # the master key (and the store it opens) survive a restart
    assert run_once("--reset") != first


def test_serve_refuses_a_wrong_master_key_with_one_line(tmp_path: Path) -> None:
    state, ports = tmp_path / "state", new_ports()
    with running_demo(state, ports) as process:
        wait_for_line(process, "the upstream itself")
        process.send_signal(signal.SIGINT)
        process.wait(20)
    wrong = "A" * 43 + "="
    (state / "master.key").write_text(wrong)
    result = subprocess.run(
        [str(PHIGATE), "serve", "--config", str(state / "phigate.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert wrong not in result.stderr + result.stdout
    assert "master key" in result.stderr.lower()
