"""The dev CA: what it issues, where it writes, when it reuses and when it renews."""

from __future__ import annotations

import contextlib
import ipaddress
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from phigate.adapters.pki import DevPki, ensure_dev_pki, issue_client_certificate
from phigate.errors import ConfigError


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def verify_server(pki: DevPki, name: x509.GeneralName, now: datetime | None = None) -> None:
    verifier = (
        PolicyBuilder()
        .store(Store([cert(pki.ca_cert)]))
        .time(now or datetime.now(UTC))
        .build_server_verifier(name)
    )
    verifier.verify(cert(pki.server_cert), [])


def test_first_run_creates_a_ca_and_a_server_certificate(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path / "pki")
    for name in ("localhost", "127.0.0.1", "::1"):
        address = None
        with contextlib.suppress(ValueError):
            address = ipaddress.ip_address(name)
        verify_server(pki, x509.IPAddress(address) if address else x509.DNSName(name))
    server = cert(pki.server_cert)
    assert server.not_valid_after_utc - server.not_valid_before_utc <= timedelta(days=397)
    assert isinstance(server.public_key(), ec.EllipticCurvePublicKey)
    assert server.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ca = cert(pki.ca_cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.not_valid_after_utc - ca.not_valid_before_utc >= timedelta(days=3650)


def test_the_ca_vouches_for_nothing_but_its_host_names(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path)
    with pytest.raises(VerificationError):
        verify_server(pki, x509.DNSName("example.org"))
    constraints = cert(pki.ca_cert).extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert x509.DNSName("localhost") in (constraints.value.permitted_subtrees or [])


def test_keys_are_private(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path / "pki")
    assert mode(pki.ca_key) == 0o600
    assert mode(pki.server_key) == 0o600
    assert mode(pki.directory) == 0o700
    client = issue_client_certificate(pki, "lab-client")
    assert mode(client.key_file) == 0o600
    assert not list(pki.directory.glob(".*.tmp"))


def test_later_runs_reuse_the_files(tmp_path: Path) -> None:
    first = ensure_dev_pki(tmp_path)
    before = {p: p.read_bytes() for p in (first.ca_cert, first.ca_key, first.server_cert, first.server_key)}
    second = ensure_dev_pki(tmp_path)
    assert second == first
    assert {p: p.read_bytes() for p in before} == before


def test_server_certificate_is_renewed_30_days_before_expiry(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path)
    ca_before, server_before = pki.ca_cert.read_bytes(), pki.server_cert.read_bytes()
    expires = cert(pki.server_cert).not_valid_after_utc
    ensure_dev_pki(tmp_path, now=expires - timedelta(days=31))
    assert pki.server_cert.read_bytes() == server_before
    ensure_dev_pki(tmp_path, now=expires - timedelta(days=29))
    renewed = cert(pki.server_cert)
    assert pki.server_cert.read_bytes() != server_before
    assert renewed.not_valid_after_utc > expires
    assert pki.ca_cert.read_bytes() == ca_before  # the CA a developer may trust stays the same
    verify_server(pki, x509.DNSName("localhost"), now=expires)


def test_new_host_names_get_a_new_certificate(tmp_path: Path) -> None:
    ensure_dev_pki(tmp_path)
    pki = ensure_dev_pki(tmp_path, hostnames=("localhost", "gateway.test"))
    verify_server(pki, x509.DNSName("gateway.test"))


def test_half_a_key_pair_is_an_error_not_a_silent_overwrite(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path)
    pki.ca_key.unlink()
    with pytest.raises(ConfigError, match=r"ca\.key is missing"):
        ensure_dev_pki(tmp_path)
    assert pki.ca_cert.exists()


def test_an_unreadable_key_is_reported_without_its_content(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path)
    pki.server_key.write_text("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError) as caught:
        ensure_dev_pki(tmp_path)
    assert "server.key" in str(caught.value)
    assert "c2VjcmV0" not in str(caught.value)


def test_client_certificates_are_for_client_auth(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path)
    issued = issue_client_certificate(pki, "acme-lab")
    client = cert(issued.cert_file)
    eku = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    verifier = PolicyBuilder().store(Store([cert(pki.ca_cert)])).build_client_verifier()
    verified = verifier.verify(client, [])
    assert verified.chain[-1] == cert(pki.ca_cert)
    assert verified.subjects == [x509.UniformResourceIdentifier("urn:phigate:client:acme-lab")]


@pytest.mark.parametrize("name", ["lab.example", "../escape", "", "a b"])
def test_client_names_are_simple(tmp_path: Path, name: str) -> None:
    pki = ensure_dev_pki(tmp_path)
    with pytest.raises(ConfigError):
        issue_client_certificate(pki, name)
    assert not (tmp_path / "clients").exists() or not list((tmp_path / "clients").iterdir())


def test_client_certificate_needs_a_ca(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path / "a")
    pki.ca_cert.unlink()
    pki.ca_key.unlink()
    with pytest.raises(ConfigError, match="no CA"):
        issue_client_certificate(pki, "lab")
