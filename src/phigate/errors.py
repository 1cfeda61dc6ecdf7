"""The one error tree of phigate.

Every error carries, as data, an HTTP status, a FHIR ``IssueType`` code and a
*safe* message: text that may be shown to a caller and written to a log. No
message ever carries patient data, a token, a secret or an internal detail
(stack trace, upstream address). One renderer (``phigate.fhir.outcome``) turns
them into an ``OperationOutcome``.

::

    PhigateError                      500 exception
    ├── ConfigError                   start-up: a config key is wrong (names the key path)
    ├── KeyStoreError                 start-up: master key missing/wrong, a key cannot be unwrapped
    ├── StorageError                  a store cannot be reached or its schema is not current
    │   └── SharedStateUnavailable    503 transient      the shared state (Redis) did not answer in time
    └── RequestError                  400 invalid        the request is malformed
        ├── NotFound                  404 not-found      no such route or resource type
        ├── MethodNotAllowed          405 not-supported
        ├── PayloadTooLarge           413 too-costly
        ├── UriTooLong                414 too-costly
        ├── HeadersTooLarge           431 too-costly
        ├── AuthenticationRequired    401 login          no usable credential
        ├── Forbidden                 403 forbidden      credential valid, access denied
        └── UpstreamError             502 transient      the upstream failed or is unreachable
            ├── UpstreamUnavailable   503 transient      every upstream is down or its circuit is open
            └── UpstreamTimeout       504 timeout        the upstream was too slow
"""

from __future__ import annotations


class PhigateError(Exception):
    status: int = 500
    code: str = "exception"
    message: str = "The gateway could not process the request."
    headers: tuple[tuple[str, str], ...] = ()  # response headers the error calls for

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


class ConfigError(PhigateError):
    """A configuration problem; ``problems`` lists each as ``key.path: what is wrong``."""

    message = "The configuration is not valid."

    def __init__(self, message: str | None = None, problems: list[str] | None = None) -> None:
        self.problems = list(problems or ([message] if message else []))
        super().__init__(message or "; ".join(self.problems) or None)


class KeyStoreError(PhigateError):
    message = "The key store cannot be opened."


class StorageError(PhigateError):
    message = "The store cannot be reached."


class SharedStateUnavailable(StorageError):
    """The shared state service (Redis) cannot be reached or did not answer in time.

    Raised within the adapter's bounded timeout, never after an open-ended wait.
    The request may be retried: status 503, OperationOutcome code ``transient``.
    """

    status = 503
    code = "transient"
    message = "The gateway's shared state service is unavailable; try again shortly."


class RequestError(PhigateError):
    status = 400
    code = "invalid"
    message = "The request is not valid."


class NotFound(RequestError):
    status = 404
    code = "not-found"
    message = "No such resource or route."


class MethodNotAllowed(RequestError):
    status = 405
    code = "not-supported"
    message = "This method is not supported on this path."


class PayloadTooLarge(RequestError):
    status = 413
    code = "too-costly"
    message = "The request is too large."


class UriTooLong(RequestError):
    status = 414
    code = "too-costly"
    message = "The request URL is too long."


class HeadersTooLarge(RequestError):
    status = 431
    code = "too-costly"
    message = "The request headers are too large."


class AuthenticationRequired(RequestError):
    status = 401
    code = "login"
    message = "Authentication is required: send a valid bearer access token."
    headers = (("www-authenticate", 'Bearer realm="phigate"'),)


class Forbidden(RequestError):
    status = 403
    code = "forbidden"
    message = "Access to this data is not permitted."


class UpstreamError(RequestError):
    status = 502
    code = "transient"
    message = "The upstream FHIR server did not give a valid answer."


class UpstreamUnavailable(UpstreamError):
    status = 503
    message = "No upstream FHIR server is available."


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "timeout"
    message = "The upstream FHIR server did not answer in time."
