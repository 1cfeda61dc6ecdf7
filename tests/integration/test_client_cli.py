"""``phigate vendor`` and ``phigate client`` end to end: a real config and SQLite store, the Typer apps."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fixtures.cli import as_json, cli, members, ok, refused, write_config
from phigate.adapters.pki import ensure_dev_pki, issue_client_certificate
from phigate.adapters.sql import open_database
from phigate.adapters.sql.clients import SqlClientRegistry
from phigate.cli.client_registration import register_client
from phigate.cli.vendor_registry import register_vendor
from phigate.oauth.jose import generate_client_key, load_private_key
from phigate.settings import load_settings
from phigate.types import ClientId, VendorId
from phigate.vendors.clients import PRIVATE_MEMBERS, OAuthClient

ISSUER = "http://127.0.0.1:8443"
SCOPES = "system/Observation.rs system/Patient.r"
ADD = ("client", "add", "--vendor", "acme-labs")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def _stored(config: Path, client_id: str) -> OAuthClient:
    async def read() -> OAuthClient | None:
        db = await open_database(f"sqlite+aiosqlite:///{config.parent / 'phigate.db'}")
        try:
            return await SqlClientRegistry(db).get(ClientId(client_id))
        finally:
            await db.close()

    client = asyncio.run(read())
    assert client is not None
    return client


def _add_generated(config: Path, out: Path, *extra: str) -> dict[str, Any]:
    result = ok(
        config, *ADD, "--name", "results feed", "--scopes", SCOPES,
        "--generate-key", "--credentials-out", str(out), *extra,
    )  # fmt: skip
    assert "keep it secret" in result.stdout
    added: dict[str, Any] = json.loads(out.read_text())
    return added


def test_vendors_are_added_listed_and_shown(config: Path) -> None:
    assert "registered vendor acme-labs (Acme Labs)" in ok(config, "vendor", "add", "Acme Labs").stdout
    ok(config, "vendor", "add", "Billing Company", "--id", "billing")
    assert [v["id"] for v in as_json(config, "vendor", "list")] == ["acme-labs", "billing"]
    shown = as_json(config, "vendor", "show", "billing")
    assert {k: shown[k] for k in ("id", "name", "status", "clients")} == {
        "id": "billing", "name": "Billing Company", "status": "active", "clients": [],
    }  # fmt: skip
    assert "acme-labs" in ok(config, "vendor", "list").stdout
    refused(cli(config, "vendor", "add", "Acme Labs"), "vendor_id: 'acme-labs' is already registered")
    refused(cli(config, "vendor", "add", "X", "--id", "Bad Id"), "vendor_id: use 1 to 64 lower-case")
    refused(cli(config, "vendor", "show", "nobody"), "No vendor 'nobody' is registered")
    ok(config, "vendor", "remove", "billing")
    assert [v["id"] for v in as_json(config, "vendor", "list")] == ["acme-labs"]


def test_generate_key_writes_private_credentials_matching_the_registered_key(config: Path) -> None:
    ok(config, "vendor", "add", "Acme Labs")
    out = config.parent / "lab.json"
    creds = _add_generated(config, out)

    assert out.stat().st_mode & 0o777 == 0o600
    assert set(creds) == {"client_id", "vendor_id", "private_jwk", "token_endpoint", "fhir_base", "scopes"}
    assert creds["vendor_id"] == "acme-labs"
    assert creds["token_endpoint"] == f"{ISSUER}/oauth2/token"
    assert creds["fhir_base"] == f"{ISSUER}/fhir"
    assert creds["private_jwk"]["alg"] == "ES384" and "d" in creds["private_jwk"]
    stored = _stored(config, creds["client_id"])
    assert creds["scopes"] == stored.scopes
    public = {k: v for k, v in creds["private_jwk"].items() if k not in PRIVATE_MEMBERS}
    assert stored.jwks == {"keys": [public]}
    assert dict(load_private_key(creds["private_jwk"]).public_jwk) == public  # the pair really matches

    listed = ok(config, "client", "list", "--json").stdout
    shown = ok(config, "client", "show", creds["client_id"], "--json").stdout
    human = ok(config, "client", "show", creds["client_id"]).stdout + ok(config, "client", "list").stdout
    for text in (listed, shown):
        assert "d" not in members(json.loads(text))
    for text in (listed, shown, human):
        assert creds["private_jwk"]["d"] not in text
    view = json.loads(shown)
    assert view["keys"] == [{"kid": public["kid"], "kty": "EC", "alg": "ES384", "crv": "P-384"}]
    assert public["kid"] in human
    assert [c["client_id"] for c in json.loads(listed)] == [creds["client_id"]]
    assert as_json(config, "vendor", "show", "acme-labs")["clients"] == [creds["client_id"]]


def test_existing_credentials_file_is_never_overwritten(config: Path) -> None:
    ok(config, "vendor", "add", "Acme Labs")
    out = config.parent / "taken.json"
    out.write_text("keep me")
    result = cli(
        config, *ADD, "--name", "feed", "--scopes", SCOPES,
        "--generate-key", "--credentials-out", str(out),
    )  # fmt: skip
    refused(result, "already exists: phigate never overwrites credentials")
    assert out.read_text() == "keep me"
    assert as_json(config, "client", "list") == []


def test_a_failed_registration_leaves_no_credentials_file(config: Path) -> None:
    ok(config, "vendor", "add", "Acme Labs")
    out = config.parent / "lab.json"
    result = cli(
        config, *ADD, "--name", "feed", "--scopes", "system/Nope.rs",
        "--generate-key", "--credentials-out", str(out),
    )  # fmt: skip
    refused(result, "scopes:")
    assert not out.exists()


def test_rotate_key_changes_the_kid_and_can_keep_the_old_key(config: Path) -> None:
    ok(config, "vendor", "add", "Acme Labs")
    first = _add_generated(config, config.parent / "v1.json")
    client_id, old_kid = first["client_id"], first["private_jwk"]["kid"]

    ok(
        config, "client", "rotate-key", client_id, "--generate-key", "--alg", "RS384",
        "--credentials-out", str(config.parent / "v2.json"), "--keep-old",
    )  # fmt: skip
    second = json.loads((config.parent / "v2.json").read_text())
    new_kid = second["private_jwk"]["kid"]
    assert new_kid != old_kid and second["private_jwk"]["kty"] == "RSA"
    assert second["client_id"] == client_id
    assert _stored(config, client_id).key_ids == (new_kid, old_kid)

    _, public = generate_client_key("ES384")
    jwks_file = config.parent / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [public]}))
    rotated = as_json(config, "client", "rotate-key", client_id, "--jwks-file", str(jwks_file))
    assert [k["kid"] for k in rotated["keys"]] == [public["kid"]]
    assert _stored(config, client_id).key_ids == (public["kid"],)


def test_disable_and_enable(config: Path) -> None:
    ok(config, "vendor", "add", "Acme Labs")
    client_id = _add_generated(config, config.parent / "lab.json")["client_id"]
    assert f"client {client_id} is disabled" in ok(config, "client", "disable", client_id).stdout
    assert as_json(config, "client", "show", client_id)["status"] == "disabled"
    assert not _stored(config, client_id).active
    ok(config, "client", "enable", client_id)
    assert as_json(config, "client", "show", client_id)["status"] == "active"
    refused(cli(config, "vendor", "remove", "acme-labs"), "owns 1 client(s) and cannot be removed")


def test_public_keys_and_jwks_urls_made_by_the_third_party(config: Path) -> None:
    ok(config, "vendor", "add", "Acme Labs")
    private, public = generate_client_key("ES384")
    jwks_file = config.parent / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [public]}))
    added = as_json(
        config, *ADD, "--name", "a", "--scopes", SCOPES,
        "--jwks-file", str(jwks_file), "--token-binding", "dpop",
    )  # fmt: skip
    assert (added["token_binding"], added["keys"][0]["kid"]) == ("dpop", public["kid"])
    by_uri = as_json(
        config, *ADD, "--name", "b", "--scopes", SCOPES,
        "--jwks-uri", "https://acme.example.com/jwks.json", "--id", "acme-b",
    )  # fmt: skip
    assert (by_uri["client_id"], by_uri["jwks_uri"], by_uri["keys"]) == (
        "acme-b", "https://acme.example.com/jwks.json", [],
    )  # fmt: skip

    jwks_file.write_text(json.dumps({"keys": [private]}))
    refused(
        cli(config, *ADD, "--name", "c", "--scopes", SCOPES, "--jwks-file", str(jwks_file)),
        "jwks.keys.0: holds private key member(s) d: register the public key only",
    )
    refused(
        cli(config, *ADD, "--name", "c", "--scopes", SCOPES, "--jwks-uri", "http://acme.example.com/jwks"),
        "jwks_uri: must be an https URL",
    )
    assert len(as_json(config, "client", "list", "--vendor", "acme-labs")) == 2


def test_shared_secrets_only_without_phi_scopes(config: Path) -> None:
    ok(config, "vendor", "add", "Acme Labs")
    out = config.parent / "secret.json"
    refused(
        cli(config, *ADD, "--name", "s", "--scopes", SCOPES, "--client-secret", "--credentials-out", out),
        "auth_method: client_secret is refused for PHI scopes",
    )
    assert not out.exists()
    ok(
        config, *ADD, "--name", "s", "--scopes", "openid",
        "--client-secret", "--credentials-out", str(out),
    )  # fmt: skip
    creds = json.loads(out.read_text())
    assert out.stat().st_mode & 0o777 == 0o600
    assert set(creds) == {"client_id", "vendor_id", "client_secret", "token_endpoint", "fhir_base", "scopes"}
    shown = ok(config, "client", "show", creds["client_id"], "--json").stdout
    assert creds["client_secret"] not in shown and "scrypt" not in shown
    assert json.loads(shown)["auth_method"] == "client_secret"


def test_errors_are_one_line_reasons(config: Path, tmp_path: Path) -> None:
    refused(cli(tmp_path / "absent.yaml", "vendor", "list"), "cannot be read")
    add = (*ADD, "--name", "n", "--scopes", SCOPES)
    refused(cli(config, *add, "--generate-key", "--credentials-out", str(tmp_path / "c.json")),
                 "No vendor 'acme-labs' is registered")  # fmt: skip
    ok(config, "vendor", "add", "Acme Labs")
    refused(cli(config, *add), "give exactly one of --jwks-file, --jwks-uri, --generate-key")
    refused(cli(config, *add, "--generate-key"), "--credentials-out FILE is needed")
    refused(cli(config, *add, "--jwks-uri", "https://a.example.com/j", "--token-binding", "mtls"),
                 "--token-binding mtls needs --mtls-cert FILE")  # fmt: skip
    (tmp_path / "bad.json").write_text("{not json")
    refused(cli(config, *add, "--jwks-file", str(tmp_path / "bad.json")), "is not JSON")
    refused(cli(config, "client", "show", "nobody-1"), "No client 'nobody-1' is registered")
    refused(cli(config, "client", "disable", "nobody-1"), "No client 'nobody-1' is registered")
    refused(
        cli(config, "client", "rotate-key", "nobody-1", "--generate-key", "--credentials-out",
             str(tmp_path / "r.json")),
        "No client 'nobody-1' is registered",
    )  # fmt: skip
    assert not (tmp_path / "r.json").exists()


def test_register_client_is_reusable_with_a_credentials_directory(config: Path) -> None:
    """What `phigate demo` does: register a third party and drop its credentials in a folder."""
    directory = config.parent / "clients"
    directory.mkdir()
    settings = load_settings(config)

    async def seed() -> OAuthClient:
        db = await open_database(settings.storage_url.get_secret_value())
        try:
            await db.migrate()
            vendor = await register_vendor(db, "Northwind Diagnostics")
            return await register_client(
                db, settings.settings, VendorId(vendor.id), "lab results", SCOPES, "ES384", directory
            )
        finally:
            await db.close()

    client = asyncio.run(seed())
    creds = json.loads((directory / f"{client.client_id}.json").read_text())
    assert creds["client_id"] == client.client_id
    assert creds["vendor_id"] == "northwind-diagnostics"
    assert client.key_ids == (creds["private_jwk"]["kid"],)


def test_mtls_binding_registers_the_certificate_thumbprint(config: Path) -> None:
    pki = ensure_dev_pki(config.parent / "pki")
    cert = issue_client_certificate(pki, "acme-lab")
    der = x509.load_pem_x509_certificate(cert.cert_file.read_bytes()).public_bytes(serialization.Encoding.DER)
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    ok(config, "vendor", "add", "Acme Labs")
    added = as_json(
        config, *ADD, "--name", "mtls", "--scopes", SCOPES,
        "--jwks-uri", "https://acme.example.com/jwks", "--mtls-cert", str(cert.cert_file),
    )  # fmt: skip
    assert (added["token_binding"], added["mtls_thumbprint"]) == ("mtls", expected)
    not_a_cert = ("--jwks-uri", "https://acme.example.com/jwks", "--mtls-cert", str(cert.key_file))
    refused(
        cli(config, *ADD, "--name", "m2", "--scopes", SCOPES, *not_a_cert),
        "cannot be read as a PEM certificate",
    )
