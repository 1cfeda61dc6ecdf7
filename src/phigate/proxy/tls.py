"""The TLS client context for upstream connections: verified, TLS 1.2+, optional mTLS."""

from __future__ import annotations

import ssl

from phigate.errors import ConfigError
from phigate.settings import UpstreamSettings


def client_ssl_context(name: str, settings: UpstreamSettings) -> ssl.SSLContext:
    """Verify against ``ca_file`` only (or the system store when it is None); never downgrade.

    There is deliberately no switch to turn verification off: a target with a bad
    certificate is an error (502), not a warning.
    """
    cafile = str(settings.ca_file) if settings.ca_file is not None else None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    except (OSError, ssl.SSLError):
        raise ConfigError(problems=[f"upstreams.{name}.ca_file: not a readable PEM CA bundle"]) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if settings.client_cert_file is not None and settings.client_key_file is not None:
        try:
            context.load_cert_chain(settings.client_cert_file, settings.client_key_file)
        except (OSError, ssl.SSLError):
            problem = f"upstreams.{name}.client_cert_file: not a PEM certificate matching client_key_file"
            raise ConfigError(problems=[problem]) from None
    return context
