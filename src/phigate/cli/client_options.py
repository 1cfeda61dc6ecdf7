"""The options of ``phigate client`` that choose keys, credentials and binding, read into domain values;
a wrong combination is a usage error naming the options.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Annotated, Any

import typer

from phigate.cli.client_registration import KeyAlgorithm
from phigate.errors import ConfigError
from phigate.oauth.rfc8705 import certificate_thumbprint
from phigate.vendors.clients import TokenBinding

CredentialsOption = Annotated[
    Path | None,
    typer.Option(
        "--credentials-out", help="New file (or existing directory) for the credentials; mode 0600."
    ),
]
AlgOption = Annotated[KeyAlgorithm, typer.Option("--alg", help="Algorithm of a generated key.")]
JwksFileOption = Annotated[
    Path | None, typer.Option("--jwks-file", help="A JSON Web Key Set with the client's public keys.")
]


def key_sources(
    jwks_file: Path | None, jwks_uri: str | None, generate: bool, secret: bool
) -> dict[str, bool]:
    return {
        "--jwks-file": jwks_file is not None,
        "--jwks-uri": jwks_uri is not None,
        "--generate-key": generate,
        "--client-secret": secret,
    }


def usage_error(reason: str) -> ConfigError:
    return ConfigError(problems=[reason])


def credentials_option(path: Path | None, *, needed: bool) -> Path | None:
    if needed and path is None:
        raise usage_error(
            "--credentials-out FILE is needed: the new private key or secret is written there only"
        )
    if not needed and path is not None:
        raise usage_error("--credentials-out goes with --generate-key or --client-secret")
    return path


def binding_of(binding: TokenBinding | None, mtls_cert: Path | None) -> tuple[TokenBinding, str | None]:
    if mtls_cert is None:
        if binding is TokenBinding.mtls:
            raise usage_error("--token-binding mtls needs --mtls-cert FILE (the client's certificate)")
        return binding or TokenBinding.none, None
    if binding not in (None, TokenBinding.mtls):
        raise usage_error("--mtls-cert goes with --token-binding mtls")
    try:
        der = ssl.PEM_cert_to_DER_cert(mtls_cert.read_text(encoding="ascii").strip())
        return TokenBinding.mtls, certificate_thumbprint(der)
    except (OSError, UnicodeDecodeError, ValueError):
        raise usage_error(f"--mtls-cert: {mtls_cert} cannot be read as a PEM certificate") from None


def read_jwks(path: Path) -> dict[str, Any]:
    try:
        parsed = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise usage_error(f"--jwks-file: {path} cannot be read ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise usage_error(f"--jwks-file: {path} is not JSON") from None
    if not isinstance(parsed, dict):
        raise usage_error(f'--jwks-file: {path} is not a JSON Web Key Set ({{"keys": [...]}})')
    return parsed
