"""TLS contexts for the gateway's listeners and its upstream calls (stdlib ``ssl`` only).

The server profile follows Mozilla's "intermediate" guidance (v5.7), made a
little stricter:

* TLS 1.2 and 1.3 only.
* TLS 1.2 suites: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305, which is
  exactly what ``ECDHE+AESGCM:ECDHE+CHACHA20`` expands to. The three DHE suites
  Mozilla still tolerates are left out: finite-field DHE is slow, and every
  client that can do TLS 1.2 with AEAD can do ECDHE. No CBC, no RSA key exchange.
* TLS 1.3 suites: OpenSSL's defaults (AES-GCM and ChaCha20-Poly1305); the stdlib
  cannot change them and all three are approved.
* One key-exchange group, P-256. ``SSLContext.set_ecdh_curve`` accepts a single
  group (with OpenSSL 3 it calls ``SSL_CTX_set1_groups`` with a list of one), so
  we must choose between X25519 and P-256. P-256 wins: RFC 8446 makes it the
  one group every TLS 1.3 peer must implement, every TLS 1.2 ECDHE client has it,
  and it is FIPS-approved, which hospital security reviews often ask for. A
  client offering only X25519 still connects: TLS 1.3 answers with a
  HelloRetryRequest for P-256.
* The client picks the suite (no ``OP_CIPHER_SERVER_PREFERENCE``), as Mozilla
  advises when every offered suite is strong: the client knows whether it has
  AES hardware.
* No compression (CRIME), no renegotiation (client-initiated renegotiation is a
  CPU-exhaustion vector), no stateless session tickets: OpenSSL never rotates
  the ticket key of a context, so a stolen key would decrypt every past TLS 1.2
  session that resumed with it. Sessions still resume from the in-memory cache.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from phigate.errors import ConfigError
from phigate.settings import ClientCertMode, TlsSettings

# Mozilla intermediate's TLS 1.2 list without the DHE suites, in Mozilla's order.
TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
ECDH_GROUP = "prime256v1"
ALPN_PROTOCOLS = ("http/1.1",)

_VERIFY_MODES = {
    ClientCertMode.none: ssl.CERT_NONE,
    ClientCertMode.optional: ssl.CERT_OPTIONAL,
    ClientCertMode.required: ssl.CERT_REQUIRED,
}


class _EncryptedKey(Exception):
    """Raised from the password callback: phigate has no key passphrase to give."""


def _no_passphrase() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for a passphrase.
    raise _EncryptedKey


def server_context(tls: TlsSettings, where: str = "tls") -> ssl.SSLContext:
    """Build the context of one listener; ``where`` is its key path, e.g. ``listeners.public.tls``.

    Raises :class:`ConfigError` naming the key path when a file is missing, is
    not PEM, or the key does not belong to the certificate. Messages never
    quote file contents.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.set_ecdh_curve(ECDH_GROUP)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_TICKET
    ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.set_alpn_protocols(list(ALPN_PROTOCOLS))
    _load_certificate(ctx, tls.cert_file, tls.key_file, where)
    _require_client_certificates(ctx, tls, where)
    return ctx


def client_context(
    ca_file: Path | None,
    client_cert: Path | None = None,
    client_key: Path | None = None,
    where: str = "upstream",
) -> ssl.SSLContext:
    """A context for calling an upstream: TLS 1.2+, certificate and host name verified.

    ``ca_file`` None trusts the system store. The cipher list is Python's
    default (forward-secret AEAD and CBC-SHA2 suites, no RC4/3DES/SHA-1), as
    EHR servers are often older than we would like.
    """
    if ca_file is not None:
        _require_file(ca_file, f"{where}.ca_file")
    try:
        # With a cafile only that CA is trusted; without one, the system store.
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file else None)
    except (ssl.SSLError, OSError):
        problem = f"{where}.ca_file: {ca_file} holds no readable PEM CA certificate"
        raise ConfigError(problems=[problem]) from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    ctx.set_alpn_protocols(list(ALPN_PROTOCOLS))
    if (client_cert is None) != (client_key is None):
        problem = f"{where}.client_cert_file: client_cert_file and client_key_file go together"
        raise ConfigError(problems=[problem])
    if client_cert is not None and client_key is not None:
        _load_certificate(ctx, client_cert, client_key, where, cert_key="client_cert_file")
    return ctx


def _require_client_certificates(ctx: ssl.SSLContext, tls: TlsSettings, where: str) -> None:
    if tls.client_cert is ClientCertMode.none:
        return
    assert tls.client_ca_file is not None  # TlsSettings refuses mTLS without a CA
    key = f"{where}.client_ca_file"
    _require_file(tls.client_ca_file, key)
    try:
        ctx.load_verify_locations(cafile=str(tls.client_ca_file))
    except (ssl.SSLError, OSError):
        problem = f"{key}: {tls.client_ca_file} holds no readable PEM CA certificate"
        raise ConfigError(problems=[problem]) from None
    ctx.verify_mode = _VERIFY_MODES[tls.client_cert]
    # Refuse malformed client certificates rather than guess what their issuer meant.
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT


def _load_certificate(
    ctx: ssl.SSLContext, cert: Path, key: Path, where: str, cert_key: str = "cert_file"
) -> None:
    key_key = "client_key_file" if cert_key == "client_cert_file" else "key_file"
    cert_path, key_path = f"{where}.{cert_key}", f"{where}.{key_key}"
    _require_file(cert, cert_path)
    _require_file(key, key_path)
    _check_certificate_pem(cert, cert_path)
    try:
        ctx.load_cert_chain(str(cert), str(key), password=_no_passphrase)
    except _EncryptedKey:
        raise ConfigError(
            problems=[f"{key_path}: {key} is encrypted; give an unencrypted key readable only by phigate"]
        ) from None
    except ssl.SSLError as exc:
        raise ConfigError(problems=[f"{key_path}: {_key_problem(exc, key, cert_path)}"]) from None
    except OSError as exc:
        raise ConfigError(problems=[f"{key_path}: {key} cannot be read ({exc.strerror})"]) from None


def _key_problem(exc: ssl.SSLError, key: Path, cert_path: str) -> str:
    # Only the OpenSSL reason code is used: it names the failure, never the bytes.
    if exc.reason == "KEY_VALUES_MISMATCH":
        return f"the private key in {key} does not match the certificate of {cert_path}"
    return f"{key} holds no usable PEM private key"


def _check_certificate_pem(cert: Path, cert_path: str) -> None:
    # load_cert_chain reports a bad certificate and a bad key alike; loading the
    # certificate alone first lets the error name the right key.
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.load_verify_locations(cafile=str(cert))
    except ssl.SSLError:
        raise ConfigError(problems=[f"{cert_path}: {cert} holds no PEM certificate"]) from None
    except OSError as exc:
        raise ConfigError(problems=[f"{cert_path}: {cert} cannot be read ({exc.strerror})"]) from None


def _require_file(path: Path, key_path: str) -> None:
    if not path.is_file():
        raise ConfigError(problems=[f"{key_path}: file {path} does not exist"])
