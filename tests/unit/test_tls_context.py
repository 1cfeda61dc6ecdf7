"""The listener TLS profile, checked on the context and by in-memory handshakes (no sockets)."""

from __future__ import annotations

import ssl
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from phigate.adapters.pki import DevPki, ensure_dev_pki, issue_client_certificate
from phigate.errors import ConfigError
from phigate.settings import ClientCertMode, TlsSettings
from phigate.tls import client_context, server_context

AEAD = {"aes-128-gcm", "aes-256-gcm", "chacha20-poly1305"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return ensure_dev_pki(tmp_path_factory.mktemp("pki"))


def tls(pki: DevPki, **changes: object) -> TlsSettings:
    return TlsSettings(cert_file=pki.server_cert, key_file=pki.server_key).model_copy(update=changes)


def trusting_client(pki: DevPki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    return ctx


def legacy_client(pki: DevPki, version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that can speak TLS 1.0/1.1: OpenSSL 3 only allows it at security level 0."""
    ctx = trusting_client(pki)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deliberately the deprecated versions
        ctx.minimum_version = version
        ctx.maximum_version = version
    return ctx


def permissive_server(cert: Path, key: Path) -> ssl.SSLContext:
    """What a listener without our profile would accept: the control for the refusal tests."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.load_cert_chain(cert, key)
    return ctx


@pytest.fixture(scope="module")
def rsa_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed RSA server certificate: with RSA authentication a TLS 1.2 client's
    supported groups constrain only the key exchange, not the certificate, so the group
    tests below isolate the server's group choice."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("rsa")
    cert_file, key_file = directory / "rsa.crt", directory / "rsa.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """Run a TLS handshake through memory buffers; raise the first side's ssl.SSLError."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client_side = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    server_side = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):  # a TLS 1.2 handshake needs two round trips, 1.3 one or two
        sides = (("client", client_side, c_out, s_in), ("server", server_side, s_out, c_in))
        for name, side, out, peer in sides:
            try:
                side.do_handshake()
                done[name] = True
            except ssl.SSLWantReadError:
                pass
            peer.write(out.read())
        if all(done.values()):
            return client_side, server_side
    raise AssertionError("the handshake did not finish")


def test_versions_are_tls12_and_tls13_only(pki: DevPki) -> None:
    ctx = server_context(tls(pki))
    assert ctx.minimum_version is ssl.TLSVersion.TLSv1_2
    assert ctx.maximum_version is ssl.TLSVersion.TLSv1_3


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls10_and_tls11_handshakes_are_refused(pki: DevPki, version: ssl.TLSVersion) -> None:
    # Control: the same client gets through to a server without our profile.
    permissive = permissive_server(pki.server_cert, pki.server_key)
    client_side, _ = handshake(permissive, legacy_client(pki, version))
    assert client_side.version() == version.name.replace("_", ".")
    with pytest.raises(ssl.SSLError, match="UNSUPPORTED_PROTOCOL"):
        handshake(server_context(tls(pki)), legacy_client(pki, version))


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls12_and_tls13_handshakes_succeed(pki: DevPki, version: ssl.TLSVersion) -> None:
    client = trusting_client(pki)
    client.minimum_version = client.maximum_version = version
    client_side, server_side = handshake(server_context(tls(pki)), client)
    assert client_side.version() == server_side.version() == version.name.replace("_", ".")
    assert client_side.selected_alpn_protocol() is None  # the client offered none
    cipher = client_side.cipher()
    assert cipher is not None and ("GCM" in cipher[0] or "CHACHA20" in cipher[0])


def test_offers_no_cbc_no_rsa_kx_no_dhe_suite(pki: DevPki) -> None:
    ciphers = server_context(tls(pki)).get_ciphers()
    tls12 = [c for c in ciphers if c["protocol"] == "TLSv1.2"]
    assert {c["name"] for c in tls12} == {
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    }
    assert all(c["kea"] == "kx-ecdhe" for c in tls12)
    assert {c["symmetric"] for c in ciphers} <= AEAD
    assert not [c for c in ciphers if c["protocol"] not in ("TLSv1.2", "TLSv1.3")]


def test_a_client_offering_only_cbc_suites_is_refused(pki: DevPki) -> None:
    client = trusting_client(pki)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    client.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384")
    handshake(permissive_server(pki.server_cert, pki.server_key), client)  # control: a plain server agrees
    with pytest.raises(ssl.SSLError, match="NO_SHARED_CIPHER"):
        handshake(server_context(tls(pki)), client)


@pytest.mark.parametrize("group", ["secp521r1", "X448", "secp384r1", "X25519"])
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_only_p256_key_exchange_is_accepted(
    rsa_pair: tuple[Path, Path], group: str, version: ssl.TLSVersion
) -> None:
    cert, key = rsa_pair
    client = ssl.create_default_context(cafile=str(cert))
    client.minimum_version = client.maximum_version = version
    client.set_ecdh_curve(group)  # with OpenSSL 3 this is the client's whole supported_groups list
    # Control: the client completes a handshake with that group when the server allows it.
    client_side, _ = handshake(permissive_server(cert, key), client)
    assert client_side.version() == version.name.replace("_", ".")
    profile = server_context(TlsSettings(cert_file=cert, key_file=key))
    # The server's own reason: no ECDHE suite without a common group (1.2), no key share (1.3).
    reason = "NO_SHARED_CIPHER" if version is ssl.TLSVersion.TLSv1_2 else "NO_SUITABLE_KEY_SHARE"
    with pytest.raises(ssl.SSLError, match=reason):
        handshake(profile, client)
    client.set_ecdh_curve("prime256v1")
    handshake(profile, client)


def test_hardening_options(pki: DevPki) -> None:
    options = server_context(tls(pki)).options
    for required in (ssl.OP_NO_COMPRESSION, ssl.OP_NO_RENEGOTIATION, ssl.OP_NO_TICKET):
        assert required in options
    # Every suite offered is strong, so the client picks (Mozilla's advice).
    assert ssl.OP_CIPHER_SERVER_PREFERENCE not in options


def test_alpn_is_http11(pki: DevPki) -> None:
    client = trusting_client(pki)
    client.set_alpn_protocols(["h2", "http/1.1"])
    client_side, _ = handshake(server_context(tls(pki)), client)
    assert client_side.selected_alpn_protocol() == "http/1.1"


def test_mismatched_key_names_the_key_path_and_not_the_key(pki: DevPki, tmp_path: Path) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    wrong = tmp_path / "other.key"
    wrong.write_bytes(pem)
    with pytest.raises(ConfigError) as caught:
        server_context(tls(pki, key_file=wrong), where="listeners.public.tls")
    text = str(caught.value)
    assert caught.value.problems[0].startswith("listeners.public.tls.key_file: ")
    assert "does not match" in text
    body = b"".join(pem.splitlines()[1:-1]).decode()
    assert body[:16] not in text and "PRIVATE KEY" not in text


def test_encrypted_key_is_a_config_error_not_a_prompt(pki: DevPki, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(pki.server_key.read_bytes(), password=None)
    locked = tmp_path / "locked.key"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    with pytest.raises(ConfigError, match=r"listeners\.admin\.tls\.key_file: .* is encrypted"):
        server_context(tls(pki, key_file=locked), where="listeners.admin.tls")


@pytest.mark.parametrize(
    ("field", "content", "message"),
    [
        ("cert_file", None, r"\.tls\.cert_file: file .* does not exist"),
        ("key_file", None, r"\.tls\.key_file: file .* does not exist"),
        ("cert_file", b"not a certificate", r"\.tls\.cert_file: .* holds no PEM certificate"),
        ("key_file", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", r"\.tls\.key_file: "),
    ],
)
def test_bad_files_name_their_key(
    pki: DevPki, tmp_path: Path, field: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / "file.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as caught:
        server_context(tls(pki, **{field: path}), where="listeners.public.tls")
    assert "AAAA" not in str(caught.value)


@pytest.mark.parametrize(
    ("mode", "verify"),
    [
        (ClientCertMode.none, ssl.CERT_NONE),
        (ClientCertMode.optional, ssl.CERT_OPTIONAL),
        (ClientCertMode.required, ssl.CERT_REQUIRED),
    ],
)
def test_client_certificate_modes(pki: DevPki, mode: ClientCertMode, verify: ssl.VerifyMode) -> None:
    ctx = server_context(tls(pki, client_ca_file=pki.ca_cert, client_cert=mode))
    assert ctx.verify_mode == verify


def test_required_client_certificate_handshake(pki: DevPki, tmp_path: Path) -> None:
    server = server_context(tls(pki, client_ca_file=pki.ca_cert, client_cert=ClientCertMode.required))
    anonymous = trusting_client(pki)
    anonymous.maximum_version = ssl.TLSVersion.TLSv1_2  # in 1.2 the refusal comes inside the handshake
    with pytest.raises(ssl.SSLError, match=r"PEER_DID_NOT_RETURN_A_CERTIFICATE|HANDSHAKE_FAILURE"):
        handshake(server, anonymous)
    issued = issue_client_certificate(pki, "lab-client", directory=tmp_path)
    known = trusting_client(pki)
    known.load_cert_chain(issued.cert_file, issued.key_file)
    _, server_side = handshake(server, known)
    peer = server_side.getpeercert()
    assert peer is not None and (("commonName", "lab-client"),) in peer["subject"]


def test_client_ca_that_is_not_pem(pki: DevPki, tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("nothing here")
    settings = tls(pki, client_ca_file=bad, client_cert=ClientCertMode.required)
    with pytest.raises(ConfigError, match=r"listeners\.public\.tls\.client_ca_file: "):
        server_context(settings, where="listeners.public.tls")


def test_client_context_verifies_and_requires_tls12(pki: DevPki) -> None:
    ctx = client_context(pki.ca_cert)
    assert ctx.minimum_version is ssl.TLSVersion.TLSv1_2
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    client_side, _ = handshake(server_context(tls(pki)), ctx)
    assert client_side.version() in ("TLSv1.2", "TLSv1.3")


def test_client_context_refuses_a_server_it_does_not_trust(pki: DevPki, tmp_path: Path) -> None:
    stranger = ensure_dev_pki(tmp_path / "other")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(server_context(tls(pki)), client_context(stranger.ca_cert))


def test_client_context_with_a_client_certificate(pki: DevPki, tmp_path: Path) -> None:
    issued = issue_client_certificate(pki, "gateway", directory=tmp_path)
    server = server_context(tls(pki, client_ca_file=pki.ca_cert, client_cert=ClientCertMode.required))
    handshake(server, client_context(pki.ca_cert, issued.cert_file, issued.key_file))
    with pytest.raises(ConfigError, match=r"upstreams\.ehr\.client_key_file: "):
        client_context(pki.ca_cert, issued.cert_file, pki.server_key, where="upstreams.ehr")
    with pytest.raises(ConfigError, match="go together"):
        client_context(pki.ca_cert, issued.cert_file, None)
