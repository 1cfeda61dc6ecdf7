from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from phigate.errors import ConfigError
from phigate.proxy.tls import client_ssl_context
from phigate.settings import UpstreamSettings


def settings(**extra: object) -> UpstreamSettings:
    return UpstreamSettings.model_validate({"targets": [{"url": "https://ehr.example.org/fhir"}], **extra})


def test_the_context_verifies_and_refuses_old_protocols() -> None:
    context = client_ssl_context("ehr", settings())
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2


def test_an_unreadable_ca_file_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(ConfigError) as caught:
        client_ssl_context("ehr", settings(ca_file=bogus))
    assert caught.value.problems[0].startswith("upstreams.ehr.ca_file:")


def test_a_broken_client_certificate_is_a_config_error(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("y")
    with pytest.raises(ConfigError) as caught:
        client_ssl_context("ehr", settings(client_cert_file=cert, client_key_file=key))
    assert caught.value.problems[0].startswith("upstreams.ehr.client_cert_file:")
