from __future__ import annotations

import errno
import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from phigate.errors import UpstreamError, UpstreamTimeout
from phigate.proxy.faults import Fault, classify, error_for, reason

KEY = ConnectionKey("ehr.internal", 443, True, True, None, None, None)


def refused() -> aiohttp.ClientConnectorError:
    os_error = OSError(errno.ECONNREFUSED, "Connect call failed ('10.1.2.3', 443)")
    return aiohttp.ClientConnectorError(KEY, os_error)


def bad_certificate() -> aiohttp.ClientConnectorCertificateError:
    cert_error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert_error.verify_message = "self-signed certificate"
    return aiohttp.ClientConnectorCertificateError(KEY, cert_error)


@pytest.mark.parametrize(
    ("exc", "fault"),
    [
        (refused(), Fault.unreached),
        (bad_certificate(), Fault.unreached),
        (aiohttp.ConnectionTimeoutError(), Fault.unreached),
        (aiohttp.SocketTimeoutError(), Fault.timeout),
        (TimeoutError(), Fault.timeout),
        (aiohttp.ServerDisconnectedError(), Fault.broken),
        (aiohttp.ClientPayloadError("cut"), Fault.broken),
        (aiohttp.ClientOSError(errno.ECONNRESET, "reset"), Fault.broken),
    ],
)
def test_classify(exc: BaseException, fault: Fault) -> None:
    assert classify(exc) is fault


def test_errors_for_faults_carry_the_gateway_status() -> None:
    assert isinstance(error_for(Fault.timeout), UpstreamTimeout)
    assert error_for(Fault.timeout).status == 504
    assert type(error_for(Fault.broken)) is UpstreamError and error_for(Fault.unreached).status == 502


def test_the_logged_reason_names_the_cause_but_no_address() -> None:
    assert reason(refused()) == "ClientConnectorError: Connection refused"
    assert reason(bad_certificate()) == "certificate rejected: self-signed certificate"
    assert reason(aiohttp.ServerDisconnectedError()) == "ServerDisconnectedError"
    for exc in (refused(), bad_certificate()):
        assert "10.1.2.3" not in reason(exc) and "ehr.internal" not in reason(exc)
