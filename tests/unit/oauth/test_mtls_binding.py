"""RFC 8705 certificate-bound tokens: the x5t#S256 thumbprint and the binding check."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from phigate.adapters.pki import ensure_dev_pki, issue_client_certificate
from phigate.oauth.jose import TokenError
from phigate.oauth.rfc8705 import certificate_thumbprint, check_certificate_binding, confirmation


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    pki = ensure_dev_pki(tmp_path_factory.mktemp("pki"))
    lab = issue_client_certificate(pki, "acme-lab")
    billing = issue_client_certificate(pki, "billing")
    return _der(lab.cert_file), _der(billing.cert_file)


def _der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def test_the_thumbprint_is_the_base64url_sha256_of_the_der_certificate(
    certificates: tuple[bytes, bytes],
) -> None:
    der, _ = certificates
    fingerprint = x509.load_der_x509_certificate(der).fingerprint(hashes.SHA256())
    expected = base64.urlsafe_b64encode(fingerprint).rstrip(b"=").decode()
    assert certificate_thumbprint(der) == expected
    assert confirmation(der) == {"x5t#S256": expected}


def test_a_pem_or_empty_certificate_is_refused(certificates: tuple[bytes, bytes]) -> None:
    der, _ = certificates
    with pytest.raises(ValueError):
        certificate_thumbprint(ssl.DER_cert_to_PEM_cert(der).encode())
    with pytest.raises(ValueError):
        certificate_thumbprint(b"")


def test_a_bound_token_needs_the_same_certificate(certificates: tuple[bytes, bytes]) -> None:
    lab, billing = certificates
    claims = {"sub": "lab", "cnf": confirmation(lab)}
    check_certificate_binding(claims, lab)
    for presented, reason in ((billing, "mtls.certificate_mismatch"), (None, "mtls.certificate_missing")):
        with pytest.raises(TokenError) as caught:
            check_certificate_binding(claims, presented)
        assert caught.value.reason == reason


def test_an_unbound_or_dpop_bound_token_is_not_an_mtls_matter(certificates: tuple[bytes, bytes]) -> None:
    check_certificate_binding({"sub": "lab"}, None)
    check_certificate_binding({"sub": "lab", "cnf": {"jkt": "abc"}}, None)


def test_a_malformed_binding_is_refused(certificates: tuple[bytes, bytes]) -> None:
    lab, _ = certificates
    with pytest.raises(TokenError):
        check_certificate_binding({"cnf": {"x5t#S256": 7}}, lab)
    with pytest.raises(TokenError):
        check_certificate_binding({"cnf": {"x5t#S256": "é"}}, lab)
