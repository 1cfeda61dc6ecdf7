"""What went wrong on the wire, as a value, and the error the caller sees for it.

aiohttp's exceptions are sorted into three faults because the retry rule depends
only on whether the request may have reached the upstream:

- ``unreached``: nothing was sent (refused, DNS, TLS handshake or certificate
  failure, connect timeout); any method may be sent to another target.
- ``broken``: the connection failed after the request may have reached the
  upstream (reset, early close, malformed answer); only an idempotent request
  with a replayable body may be sent again. A reset on an established connection
  lands here even when it came before any byte left: aiohttp cannot tell the two
  apart, and assuming "not sent" could duplicate a POST.
- ``timeout``: the upstream was reached but too slow; never retried, because a
  second target would most likely be as slow and the caller's wait would double.
"""

from __future__ import annotations

import errno
import os
import ssl
from enum import StrEnum

import aiohttp

from phigate.errors import UpstreamError, UpstreamTimeout


class Fault(StrEnum):
    unreached = "unreached"
    broken = "broken"
    timeout = "timeout"


def classify(exc: BaseException) -> Fault:
    """The fault behind an exception raised while sending or reading from the upstream."""
    # Order matters: aiohttp's connect timeout is both a TimeoutError and a ClientError.
    if isinstance(exc, aiohttp.ConnectionTimeoutError | aiohttp.ClientConnectorError):
        return Fault.unreached
    if isinstance(exc, TimeoutError):
        return Fault.timeout
    return Fault.broken


def error_for(fault: Fault) -> UpstreamError:
    """The safe error the caller gets; the cause is logged, never put in the message."""
    return UpstreamTimeout() if fault is Fault.timeout else UpstreamError()


def reason(exc: BaseException) -> str:
    """A short cause for the log: no URL, no request data, no exception text that could hold them."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert_error = exc.certificate_error
        detail = getattr(cert_error, "verify_message", None) or type(cert_error).__name__
        return f"certificate rejected: {detail}"
    if isinstance(exc, ssl.SSLError):
        return f"tls handshake failed: {exc.reason or type(exc).__name__}"
    if isinstance(exc, OSError) and exc.errno is not None:
        # A connect error's strerror embeds the address; the errno's text does not.
        text = os.strerror(exc.errno) if exc.errno in errno.errorcode else (exc.strerror or "")
        return f"{type(exc).__name__}: {text}"
    return type(exc).__name__
