"""A local certificate authority for ``phigate demo`` and for tests.

``ensure_dev_pki`` gives the demo real TLS with no setup: on first run it makes
an EC P-256 CA and a server certificate for the loopback names; later runs reuse
them and renew the server certificate before it expires. The CA is name
constrained to the host names it was made for, so a developer who trusts it in a
browser trusts it for nothing else. Private keys are written 0600 in a 0700
directory and never leave it. Not for production: there, the operator brings
certificates from their own PKI.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from phigate.errors import ConfigError

CA_LIFETIME = timedelta(days=3650)
# Under the CA/Browser Forum ceiling (397 days) and under Mozilla's "intermediate"
# profile's 366, so TLS scanners pass the demo listener.
SERVER_LIFETIME = timedelta(days=365)
CLIENT_LIFETIME = timedelta(days=365)
RENEW_BEFORE = timedelta(days=30)
# Tolerates a little clock skew between the machine that issues and the one that verifies.
BACKDATE = timedelta(minutes=5)
DEFAULT_HOSTNAMES = ("localhost", "127.0.0.1", "::1")

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class DevPki:
    """Where the dev PKI's files are: give ``ca_cert`` to clients, the server pair to a listener."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


@dataclass(frozen=True)
class ClientCertificate:
    cert_file: Path
    key_file: Path


def ensure_dev_pki(
    directory: Path, hostnames: Sequence[str] = DEFAULT_HOSTNAMES, now: datetime | None = None
) -> DevPki:
    """Create or reuse the dev CA and a server certificate for ``hostnames`` under ``directory``.

    The server certificate is (re)issued when missing, expiring within 30 days,
    not issued by this CA, or not naming every host in ``hostnames``. A CA that
    cannot cover ``hostnames`` or is itself near expiry is replaced, which also
    invalidates earlier client certificates. Raises :class:`ConfigError` when a
    file is unreadable or only half of a key pair exists.
    """
    if not hostnames:
        raise ConfigError(problems=["dev PKI: give at least one host name"])
    now = now or datetime.now(UTC)
    pki = _layout(directory)
    _private_directory(directory)
    ca = _load_pair(pki.ca_cert, pki.ca_key)
    if ca is None or not _ca_usable(ca[0], hostnames, now):
        ca = _issue_ca(pki, hostnames, now)
        _remove(pki.server_cert, pki.server_key)
    server = _load_pair(pki.server_cert, pki.server_key)
    if server is None or not _server_usable(server[0], ca, hostnames, now):
        _issue_server(pki, ca, hostnames, now)
    return pki


def issue_client_certificate(
    ca: DevPki, common_name: str, directory: Path | None = None, now: datetime | None = None
) -> ClientCertificate:
    """Issue a TLS client certificate (clientAuth) for ``common_name``, for mTLS demos and tests.

    ``common_name`` is a simple name without dots (``acme-lab``): OpenSSL checks a
    dotted common name against the CA's name constraints as if it were a host
    name, and would refuse the certificate. It also names the files.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", common_name):
        problem = f"client certificate: {common_name!r} must be letters, digits, '-' or '_' (no dots)"
        raise ConfigError(problems=[problem])
    now = now or datetime.now(UTC)
    pair = _load_pair(ca.ca_cert, ca.ca_key)
    if pair is None:
        raise ConfigError(problems=[f"dev PKI: no CA in {ca.directory}; run ensure_dev_pki first"])
    target = directory or ca.directory / "clients"
    _private_directory(target)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _leaf_builder(pair, key, common_name, now, CLIENT_LIFETIME)
        # RFC 5280 verifiers (cryptography's among them) want a SAN; a URN is outside the
        # CA's DNS/IP name constraints and can name the client for RFC 8705 binding.
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"urn:phigate:client:{common_name}")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    issued = ClientCertificate(target / f"{common_name}.crt", target / f"{common_name}.key")
    _write_key(issued.key_file, key)
    _write_cert(issued.cert_file, builder.sign(pair[1], hashes.SHA256()))
    return issued


def _layout(directory: Path) -> DevPki:
    return DevPki(
        directory=directory,
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
    )


_Pair = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


def _load_pair(cert_file: Path, key_file: Path) -> _Pair | None:
    present = cert_file.exists(), key_file.exists()
    if not any(present):
        return None
    if not all(present):
        missing = key_file if present[0] else cert_file
        problem = f"dev PKI: {missing} is missing; delete {cert_file.parent} to start over"
        raise ConfigError(problems=[problem])
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        # Never echo the parser's message: it may quote the key's bytes.
        raise ConfigError(problems=[f"dev PKI: {cert_file} or {key_file} cannot be read"]) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        return None
    return cert, key


def _ca_usable(cert: x509.Certificate, hostnames: Sequence[str], now: datetime) -> bool:
    if cert.not_valid_after_utc - now < SERVER_LIFETIME + RENEW_BEFORE:
        return False
    try:
        permitted = cert.extensions.get_extension_for_class(x509.NameConstraints).value.permitted_subtrees
    except x509.ExtensionNotFound:
        return False
    return set(_general_names(hostnames, constraint=True)) <= set(permitted or ())


def _server_usable(cert: x509.Certificate, ca: _Pair, hostnames: Sequence[str], now: datetime) -> bool:
    if cert.issuer != ca[0].subject or cert.not_valid_after_utc - now < RENEW_BEFORE:
        return False
    try:
        cert.verify_directly_issued_by(ca[0])
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return set(_general_names(hostnames)) <= set(names)


def _issue_ca(pki: DevPki, hostnames: Sequence[str], now: datetime) -> _Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "phigate dev CA (local only)")])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.NameConstraints(_general_names(hostnames, constraint=True), excluded_subtrees=None),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write_key(pki.ca_key, key)
    _write_cert(pki.ca_cert, cert)
    return cert, key


def _issue_server(pki: DevPki, ca: _Pair, hostnames: Sequence[str], now: datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _leaf_builder(ca, key, hostnames[0], now, SERVER_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(_general_names(hostnames)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    _write_key(pki.server_key, key)
    _write_cert(pki.server_cert, builder.sign(ca[1], hashes.SHA256()))


def _leaf_builder(
    ca: _Pair, key: ec.EllipticCurvePrivateKey, common_name: str, now: datetime, lifetime: timedelta
) -> x509.CertificateBuilder:
    ca_cert, ca_key = ca
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + lifetime, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _general_names(hostnames: Sequence[str], constraint: bool = False) -> list[x509.GeneralName]:
    """SAN entries, or (``constraint``) the name-constraint subtrees that admit exactly those names."""
    names: list[x509.GeneralName] = []
    for host in hostnames:
        address = _address(host)
        if address is None:
            names.append(x509.DNSName(host))
        elif constraint:
            names.append(x509.IPAddress(ipaddress.ip_network(address)))
        else:
            names.append(x509.IPAddress(address))
    return names


def _address(host: str) -> _Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _private_directory(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_atomically(path, pem, 0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    _write_atomically(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _write_atomically(path: Path, content: bytes, mode: int) -> None:
    # The file is created with its final mode, so a key is never readable by others,
    # not even for an instant; the rename means a reader never sees half a file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(temporary, mode)  # the umask may have narrowed it; never widened past mode
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
