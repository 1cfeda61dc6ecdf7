"""`phigate contract list|show` and `phigate client encryption-key set|rotate|clear` (issue 7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jwcrypto import jwk

from fixtures.cli import as_json, cli, members, phigate, write_config
from phigate.vendors.clients import PRIVATE_MEMBERS

CONTRACTS = """\
contracts:
  clients:
    lab-feed:
      resources:
        Observation: {interactions: [search], elements: [status, code, value]}
      purposes: [TREAT]
      encryption: {responses: jwe}
  vendors:
    acme-labs:
      resources:
        Patient: {interactions: [read]}
      masking:
        preset: safe-harbor
        rules: [{path: Patient.birthDate, method: encrypt}]
"""
EC = jwk.JWK.generate(kty="EC", crv="P-256", kid="enc-1")
RSA = jwk.JWK.generate(kty="RSA", size=2048, kid="enc-2")
SIGNING = jwk.JWK.generate(kty="EC", crv="P-384", kid="sig-1")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, CONTRACTS)


def jwks_file(tmp_path: Path, name: str, *keys: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"keys": list(keys)}))
    return path


def public(key: jwk.JWK, **extra: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(key.export_public())
    return {**document, **extra}


@pytest.fixture
def lab_feed(config: Path, tmp_path: Path) -> str:
    assert cli(config, "vendor", "add", "Acme Labs").exit_code == 0
    signing = jwks_file(tmp_path, "sig.json", public(SIGNING, alg="ES384", use="sig"))
    added = cli(config, "client", "add", "--vendor", "acme-labs", "--name", "feed", "--id", "lab-feed",
                "--scopes", "system/Observation.rs", "--jwks-file", signing)  # fmt: skip
    assert added.exit_code == 0, added.output
    other = cli(config, "client", "add", "--vendor", "acme-labs", "--name", "portal", "--id", "portal",
                "--scopes", "system/Patient.r", "--jwks-file", signing)  # fmt: skip
    assert other.exit_code == 0, other.output
    return "lab-feed"


def test_contract_list_reads_the_contracts_from_the_config(config: Path) -> None:
    listed = as_json(config, "contract", "list")
    assert [view["key"] for view in listed] == ["contracts.clients.lab-feed", "contracts.vendors.acme-labs"]
    assert listed[0]["resources"] == {"Observation": ["search"]} and listed[0]["purposes"] == ["TREAT"]
    assert listed[0]["encryption"] == {"responses": "jwe", "elements": []}
    assert listed[1]["masking"] == {"preset": "safe-harbor", "rules": 1}
    assert listed[1]["encryption"]["elements"] == ["Patient.birthDate"]
    text = cli(config, "contract", "list")
    assert "contracts.vendors.acme-labs: Patient (read); masking safe-harbor" in text.stdout
    help_text = phigate("contract", "--help").stdout
    assert "defined in the config" in " ".join(help_text.split())


def test_a_broken_contract_is_reported_not_listed(config: Path) -> None:
    config.write_text(config.read_text().replace("Observation: {", "Observaton: {"))
    result = cli(config, "contract", "list")
    assert result.exit_code == 1 and "contracts.clients.lab-feed.resources.Observaton" in result.stderr


def test_contract_show_names_the_contract_that_applies_to_a_client(config: Path, lab_feed: str) -> None:
    own = as_json(config, "contract", "show", "--client", lab_feed)
    assert own["vendor"] == "acme-labs" and own["contract"]["key"] == "contracts.clients.lab-feed"
    assert own["contract"]["terms"]["resources"]["Observation"]["elements"] == ["status", "code", "value"]
    assert own["encryption_keys"] == []
    inherited = as_json(config, "contract", "show", "--client", "portal")
    assert inherited["contract"]["key"] == "contracts.vendors.acme-labs"  # the vendor's default
    by_vendor = as_json(config, "contract", "show", "--vendor", "acme-labs")
    assert by_vendor["contract"]["terms"]["masking"]["preset"] == "safe-harbor"
    unknown = cli(config, "contract", "show", "--client", "nobody")
    assert unknown.exit_code == 1 and "No client 'nobody'" in unknown.stderr
    assert cli(config, "contract", "show").exit_code == 1  # one of --client or --vendor


def test_a_client_is_added_with_its_encryption_keys(config: Path, tmp_path: Path) -> None:
    assert cli(config, "vendor", "add", "Acme Labs").exit_code == 0
    signing = jwks_file(tmp_path, "sig.json", public(SIGNING, alg="ES384", use="sig"))
    encryption = jwks_file(tmp_path, "enc.json", public(EC, use="enc"))
    added = as_json(config, "client", "add", "--vendor", "acme-labs", "--name", "feed", "--id", "lab-feed",
                    "--scopes", "system/Observation.rs", "--jwks-file", signing,
                    "--encryption-jwks-file", encryption)  # fmt: skip
    assert [key["kid"] for key in added["encryption_keys"]] == ["enc-1"]
    refused = cli(config, "client", "add", "--vendor", "acme-labs", "--name", "other", "--id", "other",
                  "--scopes", "system/Observation.rs", "--jwks-file", signing,
                  "--encryption-jwks-file", signing)  # fmt: skip
    assert refused.exit_code == 1 and "alg must be ECDH-ES+A256KW" in refused.stderr
    assert [c["client_id"] for c in as_json(config, "client", "list")] == ["lab-feed"]  # nothing half-added


def test_encryption_keys_are_set_rotated_shown_and_cleared(
    config: Path, lab_feed: str, tmp_path: Path
) -> None:
    first = jwks_file(tmp_path, "enc1.json", public(EC, use="enc"))
    shown = as_json(config, "client", "encryption-key", "set", lab_feed, "--jwks-file", first)
    assert shown["encryption_keys"] == [{"kid": "enc-1", "kty": "EC", "crv": "P-256"}]
    assert not members(shown) & PRIVATE_MEMBERS
    second = jwks_file(tmp_path, "enc2.json", public(RSA, use="enc", alg="RSA-OAEP-256"))
    rotated = as_json(config, "client", "encryption-key", "rotate", lab_feed, "--jwks-file", second)
    assert [key["kid"] for key in rotated["encryption_keys"]] == ["enc-2", "enc-1"]  # the new one in use
    assert as_json(config, "contract", "show", "--client", lab_feed)["encryption_keys"] == ["enc-2", "enc-1"]
    assert (
        "encrypts to:    enc-2 (RSA-OAEP-256), enc-1 (EC)" in cli(config, "client", "show", lab_feed).stdout
    )
    cleared = as_json(config, "client", "encryption-key", "clear", lab_feed)
    assert cleared["encryption_keys"] == []


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (json.loads(EC.export_private()), "private key member"),
        (public(EC, use="sig"), "use must be enc"),
        (public(SIGNING, alg="ES384"), "alg must be ECDH-ES+A256KW"),
        ({**public(EC, use="enc"), "x": public(RSA)["n"][:43]}, "not a valid public key"),
    ],
)
def test_unusable_encryption_keys_are_refused_by_the_cli(
    config: Path, lab_feed: str, tmp_path: Path, key: dict[str, Any], reason: str
) -> None:
    result = cli(
        config, "client", "encryption-key", "set", lab_feed, "--jwks-file", jwks_file(tmp_path, "k.json", key)
    )
    assert result.exit_code == 1 and reason in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1
