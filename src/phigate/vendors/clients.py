"""A third party's OAuth client: who it is, which keys prove it, and the most it may ever be granted.

Rules every stored client obeys (checked when the value is built, so a registry
cannot hold a client that breaks them):

- ``scopes`` is the registered ceiling, a canonical space-separated SMART scope
  string; a token never grants more (the token endpoint intersects with it).
- A client with any PHI scope (any ``patient/``, ``user/`` or ``system/`` resource
  scope) authenticates with ``private_key_jwt``; shared secrets are refused for
  patient data (issue 3). ``client_secret`` exists only for clients without PHI
  scopes; phigate generates the secret and stores a salted scrypt hash of it, never
  the secret.
- A ``private_key_jwt`` client has exactly one of a static JWKS (public keys only:
  a key with a private member is refused) or a ``jwks_uri`` (https; plain http only
  to a loopback host, which :func:`new_client` refuses unless the deployment
  allows loopback JWKS for dev and tests).
- ``token_binding = mtls`` needs the client certificate's ``x5t#S256``
  thumbprint; a thumbprint without mTLS binding is refused.
- ``encryption_jwks`` (optional, issue 7) holds the public keys the gateway
  encrypts responses to (``use`` enc: RSA with RSA-OAEP-256 or EC with
  ECDH-ES+A256KW), each with a unique kid; the first key is the one in use.
"""

from __future__ import annotations

import base64
import builtins
import copy
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from phigate.policy.scopes import InvalidScope, ScopeSet
from phigate.types import ClientId, VendorId
from phigate.vendors.records import RegistrationError, check_name, check_vendor_id

_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,127}")
_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url SHA-256, unpadded
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
ASSERTION_ALGORITHMS = {"RSA": "RS384", "EC": "ES384"}  # SMART Backend Services (smart.md 4.6)
ENCRYPTION_ALGORITHMS = {"RSA": "RSA-OAEP-256", "EC": "ECDH-ES+A256KW"}  # response JWE (issue 7)
_ENCRYPTION_CURVES = {"P-256": 32, "P-384": 48, "P-521": 66}
MAX_KEYS = 10
MAX_JWKS_BYTES = 64 * 1024
MIN_RSA_BITS = 2048
P384_COORDINATE_BYTES = 48
JWKS_URI_MAX = 2000
E = TypeVar("E", bound=StrEnum)

# scrypt cost: 16 MiB and tens of milliseconds per check. The secrets phigate hands
# out are 256-bit random, so this guards a leaked table, not a guessable password.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024


class AuthMethod(StrEnum):
    private_key_jwt = "private_key_jwt"
    client_secret = "client_secret"  # noqa: S105 - a method name, not a secret
    # A public app (SMART client-public, issue 4): no credential; it gets tokens only through a person's
    # authorization (authorization_code with PKCE) at its registered redirect URIs, never client_credentials.
    none = "none"


class TokenBinding(StrEnum):
    none = "none"
    dpop = "dpop"  # RFC 9449
    mtls = "mtls"  # RFC 8705 certificate-bound tokens


class ClientStatus(StrEnum):
    active = "active"
    disabled = "disabled"


@dataclass(frozen=True, kw_only=True)
class OAuthClient:
    client_id: ClientId
    vendor_id: VendorId
    name: str
    scopes: str
    auth_method: AuthMethod
    created_at: datetime
    updated_at: datetime
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    token_binding: TokenBinding = TokenBinding.none
    mtls_thumbprint: str | None = None
    secret_hash: str | None = None
    status: ClientStatus = ClientStatus.active
    encryption_jwks: dict[str, Any] | None = None  # response encryption keys (issue 7); first one in use

    def __post_init__(self) -> None:
        check_client_id(self.client_id)
        check_vendor_id(self.vendor_id)
        set_ = object.__setattr__
        set_(self, "name", check_name(self.name, "name"))
        set_(self, "scopes", canonical_scopes(self.scopes))
        set_(self, "auth_method", _enum(AuthMethod, self.auth_method, "auth_method"))
        set_(self, "token_binding", _enum(TokenBinding, self.token_binding, "token_binding"))
        set_(self, "status", _enum(ClientStatus, self.status, "status"))
        if self.jwks is not None:
            set_(self, "jwks", check_jwks(self.jwks))
        if self.jwks_uri is not None:
            check_jwks_uri(self.jwks_uri, allow_loopback=True)
        if self.encryption_jwks is not None:
            set_(self, "encryption_jwks", check_encryption_jwks(self.encryption_jwks))
        self._check_authentication()
        self._check_binding()

    def _check_authentication(self) -> None:
        if self.auth_method is AuthMethod.none:
            if self.jwks is not None or self.jwks_uri is not None or self.secret_hash is not None:
                raise RegistrationError("auth_method", "a public client registers no keys and no secret")
            return
        if self.auth_method is AuthMethod.client_secret:
            if has_phi_scopes(self.scopes):
                raise RegistrationError(
                    "auth_method",
                    "client_secret is refused for PHI scopes (patient/, user/, system/): "
                    "use private_key_jwt with a registered public key",
                )
            if self.secret_hash is None or not _is_secret_hash(self.secret_hash):
                raise RegistrationError("secret_hash", "a client_secret client needs a scrypt hash")
            if self.jwks is not None or self.jwks_uri is not None:
                raise RegistrationError("jwks", "a client_secret client registers no keys")
            return
        if (self.jwks is None) == (self.jwks_uri is None):
            raise RegistrationError("jwks", "a private_key_jwt client needs exactly one of jwks or jwks_uri")
        if self.secret_hash is not None:
            raise RegistrationError("secret_hash", "a private_key_jwt client has no shared secret")

    def _check_binding(self) -> None:
        if self.token_binding is TokenBinding.mtls:
            if self.mtls_thumbprint is None or not _THUMBPRINT.fullmatch(self.mtls_thumbprint):
                raise RegistrationError(
                    "mtls_thumbprint", "mtls binding needs the client certificate's x5t#S256 thumbprint"
                )
        elif self.mtls_thumbprint is not None:
            raise RegistrationError("mtls_thumbprint", "is only used with token_binding mtls")

    @property
    def active(self) -> bool:
        return self.status is ClientStatus.active

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ``kid`` of every registered static key (none for a jwks_uri client)."""
        return tuple(key["kid"] for key in (self.jwks or {}).get("keys", ()))

    def with_keys(
        self,
        now: datetime,
        *,
        jwks: Mapping[str, Any] | None = None,
        jwks_uri: str | None = None,
        keep_old: bool = False,
        allow_loopback_jwks: bool = False,
    ) -> OAuthClient:
        """This client with new verification keys; ``keep_old`` adds static keys to the current ones.

        ``keep_old`` lets a third party roll its key with an overlap: both keys verify until
        the next rotation without it. It needs a static JWKS on both sides; a key whose
        ``kid`` is already registered is replaced by the new one.
        """
        if self.auth_method is not AuthMethod.private_key_jwt:
            raise RegistrationError("auth_method", "only a private_key_jwt client has keys to rotate")
        if jwks_uri is not None:
            check_jwks_uri(jwks_uri, allow_loopback=allow_loopback_jwks)
        if keep_old:
            if jwks is None or self.jwks is None:
                raise RegistrationError("keep_old", "keeps static keys only: both old and new must be a JWKS")
            jwks = _merged(self.jwks, check_jwks(jwks))
        return replace(self, jwks=_copied(jwks), jwks_uri=jwks_uri, updated_at=now)

    def with_status(self, status: ClientStatus, now: datetime) -> OAuthClient:
        return replace(self, status=status, updated_at=now)

    @property
    def encryption_key_ids(self) -> tuple[str, ...]:
        """The ``kid`` of every response encryption key, the one in use first."""
        return tuple(key["kid"] for key in (self.encryption_jwks or {}).get("keys", ()))

    def with_encryption_keys(
        self, now: datetime, jwks: Mapping[str, Any] | None, *, keep_old: bool = False
    ) -> OAuthClient:
        """This client with new response encryption keys (``None`` removes them).

        ``keep_old`` puts the new keys first (the gateway encrypts to the first key from
        then on) and keeps the current ones after them, so the registry still shows which
        kids earlier responses named; a kid already registered is replaced by the new key.
        """
        checked = None if jwks is None else check_encryption_jwks(jwks)
        if checked is not None and keep_old and self.encryption_jwks is not None:
            checked = {"keys": _merged(self.encryption_jwks, checked)["keys"][:MAX_KEYS]}  # oldest go first
        return replace(self, encryption_jwks=checked, updated_at=now)


def new_client(
    *,
    vendor_id: VendorId,
    name: str,
    scopes: str,
    now: datetime,
    client_id: str | None = None,
    jwks: Mapping[str, Any] | None = None,
    jwks_uri: str | None = None,
    token_binding: TokenBinding = TokenBinding.none,
    mtls_thumbprint: str | None = None,
    secret_hash: str | None = None,
    allow_loopback_jwks: bool = False,
    public: bool = False,
    encryption_jwks: Mapping[str, Any] | None = None,
) -> OAuthClient:
    """A client to register: ``client_id`` defaults to ``<vendor id>-<8 hex>``.

    A ``secret_hash`` makes it a client_secret client; ``public`` a public app (no credential,
    issue 4); otherwise it uses private_key_jwt.
    ``allow_loopback_jwks`` (settings ``oauth.allow_loopback_jwks``, dev only) admits a
    jwks_uri on a loopback or private address.
    """
    if jwks_uri is not None:
        check_jwks_uri(jwks_uri, allow_loopback=allow_loopback_jwks)
    method = AuthMethod.client_secret if secret_hash is not None else AuthMethod.private_key_jwt
    if public:
        method = AuthMethod.none
    return OAuthClient(
        client_id=ClientId(client_id) if client_id is not None else generate_client_id(vendor_id),
        vendor_id=vendor_id,
        name=name,
        scopes=scopes,
        auth_method=method,
        jwks=_copied(jwks),
        jwks_uri=jwks_uri,
        token_binding=token_binding,
        mtls_thumbprint=mtls_thumbprint,
        secret_hash=secret_hash,
        encryption_jwks=None if encryption_jwks is None else check_encryption_jwks(encryption_jwks),
        created_at=now,
        updated_at=now,
    )


def generate_client_id(vendor_id: VendorId) -> ClientId:
    # Readable in logs and audit records; the random part keeps ids from being enumerated.
    return ClientId(f"{vendor_id}-{secrets.token_hex(4)}")


def check_client_id(value: str) -> ClientId:
    if not _CLIENT_ID.fullmatch(value):
        raise RegistrationError(
            "client_id", "use 3 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return ClientId(value)


# --- scopes -------------------------------------------------------------------------------------------


def canonical_scopes(text: str) -> str:
    """The scope ceiling in canonical form; a malformed scope is refused, never dropped."""
    try:
        canonical = ScopeSet.parse(text).to_string()
    except InvalidScope as exc:
        raise RegistrationError("scopes", exc.message) from None
    if not canonical:
        raise RegistrationError("scopes", "give at least one scope")
    return canonical


def has_phi_scopes(scopes: str) -> bool:
    """Whether any scope reaches clinical data: every patient/, user/ and system/ resource scope does."""
    return bool(ScopeSet.parse(scopes).clinical)


# --- keys ---------------------------------------------------------------------------------------------


def check_jwks(jwks: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``jwks`` once it is a set of 1 to 10 public RS384/ES384 signing keys with unique kids."""
    return _checked_key_set(jwks, "jwks", _check_key)


def _checked_key_set(
    jwks: Mapping[str, Any], where: str, check_key: Callable[[Any, str], str]
) -> dict[str, Any]:
    """A copy of ``jwks`` once it is a bounded JWK Set whose keys each pass ``check_key`` with unique kids."""
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise RegistrationError(where, 'must be a JSON Web Key Set: {"keys": [...]}')
    keys = jwks["keys"]
    if not 1 <= len(keys) <= MAX_KEYS:
        raise RegistrationError(where, f"must hold 1 to {MAX_KEYS} keys")
    try:
        size = len(json.dumps(jwks))
    except (TypeError, ValueError):
        raise RegistrationError(where, "is not plain JSON") from None
    if size > MAX_JWKS_BYTES:
        raise RegistrationError(where, f"is larger than {MAX_JWKS_BYTES // 1024} KiB")
    kids = [check_key(key, f"{where}.keys.{i}") for i, key in enumerate(keys)]
    if len(set(kids)) != len(kids):
        raise RegistrationError(where, "two keys share one kid")
    copied: dict[str, Any] = copy.deepcopy(dict(jwks))
    return copied


def _public_kid(key: Any, where: str, why_kid: str) -> str:
    """The kid of a public JWK; refuses anything but a JSON object without private members and with a kid."""
    if not isinstance(key, dict):
        raise RegistrationError(where, "must be a JSON object")
    private = sorted(PRIVATE_MEMBERS & key.keys())
    if private:
        raise RegistrationError(
            where, f"holds private key member(s) {', '.join(private)}: register the public key only"
        )
    kid = key.get("kid")
    if not isinstance(kid, str) or not 1 <= len(kid) <= 200:
        raise RegistrationError(where, f"needs a kid (1 to 200 characters): {why_kid}")
    return kid


def _check_key(key: Any, where: str) -> str:
    kid = _public_kid(key, where, "assertions name their key by kid")
    kty = key.get("kty")
    if kty not in ASSERTION_ALGORITHMS:
        raise RegistrationError(where, "kty must be RSA (RS384) or EC (ES384)")
    if key.get("alg", ASSERTION_ALGORITHMS[kty]) != ASSERTION_ALGORITHMS[kty]:
        raise RegistrationError(where, f"alg must be {ASSERTION_ALGORITHMS[kty]} for a {kty} key")
    if key.get("use", "sig") != "sig":
        raise RegistrationError(where, "use must be sig")
    if kty == "RSA":
        _check_rsa(key, where)
    else:
        _check_ec(key, where)
    return kid


def check_encryption_jwks(jwks: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``jwks`` once it is a set of 1 to 10 public response-encryption keys with unique kids.

    RSA keys (at least 2048 bits) use RSA-OAEP-256; EC keys (P-256, P-384, P-521) use
    ECDH-ES+A256KW; ``use`` is enc. The kid is required: it goes in the JWE header so
    the client knows which private key decrypts.
    """
    return _checked_key_set(jwks, "encryption_jwks", _check_encryption_key)


def _check_encryption_key(key: Any, where: str) -> str:
    kid = _public_kid(key, where, "the JWE header names it")
    kty = key.get("kty")
    if kty not in ENCRYPTION_ALGORITHMS:
        raise RegistrationError(where, "kty must be RSA (RSA-OAEP-256) or EC (ECDH-ES+A256KW)")
    if key.get("alg", ENCRYPTION_ALGORITHMS[kty]) != ENCRYPTION_ALGORITHMS[kty]:
        raise RegistrationError(where, f"alg must be {ENCRYPTION_ALGORITHMS[kty]} for a {kty} key")
    if key.get("use", "enc") != "enc":
        raise RegistrationError(where, "use must be enc (a response encryption key)")
    if kty == "RSA":
        _check_rsa(key, where)
        return kid
    size = _ENCRYPTION_CURVES.get(key.get("crv", ""))
    if size is None:
        raise RegistrationError(where, "an EC key must be on curve P-256, P-384 or P-521")
    for member in ("x", "y"):
        if len(_b64(key.get(member), f"{where}.{member}")) != size:
            raise RegistrationError(where, f"{member} is not a {key['crv']} coordinate")
    return kid


def _check_rsa(key: dict[str, Any], where: str) -> None:
    modulus, exponent = _b64(key.get("n"), f"{where}.n"), _b64(key.get("e"), f"{where}.e")
    if len(modulus.lstrip(b"\0")) * 8 < MIN_RSA_BITS or not exponent:
        raise RegistrationError(where, f"an RSA key must have at least {MIN_RSA_BITS} bits")


def _check_ec(key: dict[str, Any], where: str) -> None:
    if key.get("crv") != "P-384":
        raise RegistrationError(where, "an EC key must be on curve P-384 (ES384)")
    for member in ("x", "y"):
        if len(_b64(key.get(member), f"{where}.{member}")) != P384_COORDINATE_BYTES:
            raise RegistrationError(where, f"{member} is not a P-384 coordinate")


def _b64(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", value):
        raise RegistrationError(where, "must be base64url without padding")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _merged(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    fresh = {key["kid"] for key in new["keys"]}
    kept = [key for key in old["keys"] if key["kid"] not in fresh]
    return {"keys": [*new["keys"], *kept]}


def _copied(jwks: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if jwks is None else copy.deepcopy(dict(jwks))


def check_jwks_uri(uri: str, *, allow_loopback: bool) -> str:
    """Refuse a JWKS URL phigate should not fetch: not https, with credentials, or (unless allowed) local.

    A host name that resolves to a private address is caught when the key is fetched;
    this check sees only what the URL itself says.
    """
    parts = urlsplit(uri)
    if len(uri) > JWKS_URI_MAX or not parts.hostname or parts.username or parts.password or parts.fragment:
        raise RegistrationError("jwks_uri", "must be an absolute https URL without credentials or fragment")
    local = _is_local(parts.hostname)
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise RegistrationError("jwks_uri", "must be an https URL")
    if local and not allow_loopback:
        raise RegistrationError(
            "jwks_uri",
            "names a loopback or private address: allowed only with oauth.allow_loopback_jwks (dev)",
        )
    return uri


def _is_local(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


# --- shared secrets (non-PHI clients only) ------------------------------------------------------------


def generate_client_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_client_secret(secret: str) -> str:
    """``scrypt$<n>$<r>$<p>$<salt>$<hash>``, a fresh 16-byte salt per secret."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return "$".join(["scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), _enc(salt), _enc(digest)])


def verify_client_secret(stored_hash: str, presented: str) -> bool:
    """Constant-time check of a presented secret against its stored hash; ``False`` for any bad input."""
    if not _is_secret_hash(stored_hash):
        return False
    _, n, r, p, salt, digest = stored_hash.split("$")
    expected = base64.urlsafe_b64decode(digest + "==")
    actual = _scrypt(presented, base64.urlsafe_b64decode(salt + "=="), int(n), int(r), int(p))
    return hmac.compare_digest(expected, actual)


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32)


def _is_secret_hash(value: str) -> bool:
    # Bounded parameters: a tampered row must not make verification allocate without limit.
    match = re.fullmatch(r"scrypt\$(\d{1,7})\$(\d{1,2})\$(\d)\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}", value)
    return match is not None and int(match[1]) <= 2**17 and int(match[2]) <= 16 and 1 <= int(match[3]) <= 4


def _enc(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _enum(kind: type[E], value: str, where: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise RegistrationError(where, f"must be one of {', '.join(kind)}") from None


class ClientRegistry(Protocol):
    """The durable record of OAuth clients, shared by every gateway node.

    ``get`` returns ``None`` for an unknown client (the token endpoint then answers
    ``invalid_client``; a disabled client is returned, with its status, so the caller
    decides). ``add`` raises RegistrationError when the client id is taken, the vendor
    is unknown or the vendor already has a client of that name. The mutations raise
    NotRegistered for an unknown client, and return the client as stored; each runs
    in one transaction, so concurrent mutations of one client do not lose an update.
    """

    async def get(self, client_id: ClientId) -> OAuthClient | None: ...

    async def add(self, client: OAuthClient) -> None: ...

    async def list(self, vendor_id: VendorId | None = None) -> builtins.list[OAuthClient]:
        """Clients ordered by client id, optionally of one vendor only."""
        ...

    async def set_keys(
        self,
        client_id: ClientId,
        *,
        jwks: Mapping[str, Any] | None = None,
        jwks_uri: str | None = None,
        keep_old: bool = False,
        allow_loopback_jwks: bool = False,
    ) -> OAuthClient:
        """Replace the verification keys (see :meth:`OAuthClient.with_keys`)."""
        ...

    async def set_status(self, client_id: ClientId, status: ClientStatus) -> OAuthClient: ...

    async def disable(self, client_id: ClientId) -> OAuthClient:
        """``set_status(client_id, disabled)``: the client gets no new token from now on."""
        ...
