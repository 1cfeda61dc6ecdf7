"""WebAuthn (W3C Web Authentication, Level 2) as a second factor: the relying party's two ceremonies.

The relying party is the gateway's issuer: its host is the RP ID and its
origin the one expected origin, so an answer made for another site (a
phishing page, another RP ID) is refused. A ceremony is offered on a page and
completed by that page's next post:

- its challenge is 32 random bytes, sealed with the user, the purpose
  (``create``: enrol a key, ``get``: sign in with one) and a hash of the page's
  flow token in a short-lived JWS (``phigate-webauthn+jwt``) signed by the
  gateway's key: any node can check it, and it is good for that page only;
- it is single-use across nodes: completing it claims the challenge in the
  shared replay cache, so a replayed answer is refused;
- user verification is preferred, not required: the password is the first
  factor and the key the second (AAL2);
- attestation ``none`` is accepted, and asked for: phigate keeps no list of
  trusted authenticator models, and what ties a key to its person is the
  enrolment itself (right after the password, while the person has no other
  factor), the same trust a TOTP enrolment gets;
- the signature counter must move forward (or stay at zero, for
  authenticators without one); a validly signed answer whose counter does not
  may come from a cloned authenticator: :attr:`KeyVerdict.cloned`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import webauthn
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from phigate.oauth.jose import TokenError, check_claims, sign_jwt, verify_jwt
from phigate.oauth.rfc9068 import TokenKeys
from phigate.people.security_keys import MAX_CREDENTIAL_ID, SecurityKey, counter_moved, known_transports
from phigate.people.store import UserStore
from phigate.people.users import User
from phigate.ports import ReplayCache

CEREMONY_TYP = "phigate-webauthn+jwt"
CHALLENGE_BYTES = 32
CREATE, GET = "create", "get"
# What a malformed or forged answer raises inside py_webauthn (CBOR and base64 errors are ValueErrors).
_MALFORMED = (WebAuthnException, ValueError, TypeError, KeyError)


class KeyVerdict(StrEnum):
    accepted = "accepted"
    refused = "refused"  # anything wrong: ceremony, origin, RP ID, signature, credential, replay
    cloned = "cloned"  # a validly signed answer whose counter went backwards: refused, and worth an alert


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str
    origin: str
    name: str

    @classmethod
    def for_issuer(cls, issuer: str, name: str) -> RelyingParty | None:
        """The issuer as relying party; ``None`` unless it is ``https`` on a domain name.

        Browsers refuse an IP address as RP ID, so an issuer such as
        ``https://127.0.0.1:8443`` cannot offer security keys.
        """
        parts = urlsplit(issuer)
        host = parts.hostname or ""
        if parts.scheme != "https" or not host or _is_address(host):
            return None
        port = f":{parts.port}" if parts.port not in (None, 443) else ""
        return cls(host, f"https://{host}{port}", name)


@dataclass(frozen=True)
class Ceremony:
    """A ceremony offered on a page: options for ``navigator.credentials``, and the sealed challenge."""

    purpose: str  # CREATE or GET
    options: str  # JSON, binary members base64url-encoded
    token: str


@dataclass(frozen=True)
class KeyResponse:
    """What the page posts back: its flow token, the ceremony it was shown, the browser's answer (JSON)."""

    flow: str
    ceremony: str
    credential: str


@dataclass(frozen=True)
class KeyCheck:
    verdict: KeyVerdict
    reason: str = ""  # for logs only (``webauthn.origin`` ...): never shown to the person
    key: SecurityKey | None = None


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class SecurityKeys:
    """The ceremonies, over the user store (credentials) and the shared replay cache (challenges)."""

    party: RelyingParty
    keys: TokenKeys
    store: UserStore
    replay: ReplayCache
    seconds: int = 300

    async def registration(self, user: User, flow: str, now: float) -> Ceremony:
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        options = webauthn.generate_registration_options(
            rp_id=self.party.rp_id,
            rp_name=self.party.name,
            user_name=user.username,
            user_id=user.user_id.encode(),  # a random id, never the username (no personal data in the key)
            user_display_name=user.display_name,
            challenge=challenge,
            timeout=self.seconds * 1000,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.DISCOURAGED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=_descriptors(await self.store.security_keys(user.user_id)),
        )
        token = self._seal(challenge, user.user_id, CREATE, flow, now)
        return Ceremony(CREATE, webauthn.options_to_json(options), token)

    async def authentication(self, user_id: str, flow: str, now: float) -> Ceremony | None:
        """A sign-in ceremony for the user's keys; ``None`` when the user has none."""
        registered = await self.store.security_keys(user_id)
        if not registered:
            return None
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        options = webauthn.generate_authentication_options(
            rp_id=self.party.rp_id,
            challenge=challenge,
            timeout=self.seconds * 1000,
            allow_credentials=_descriptors(registered),
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        token = self._seal(challenge, user_id, GET, flow, now)
        return Ceremony(GET, webauthn.options_to_json(options), token)

    async def register(self, user: User, response: KeyResponse, name: str, now: float) -> KeyCheck:
        """Verify a new credential made for ``user`` and store it under ``name`` (already checked)."""
        try:
            return KeyCheck(KeyVerdict.accepted, key=await self._register(user, response, name, now))
        except _Refused as refused:
            return KeyCheck(KeyVerdict.refused, refused.reason)

    async def authenticate(self, user_id: str, response: KeyResponse, now: float) -> KeyCheck:
        """Verify an assertion by one of the user's own credentials."""
        try:
            return await self._authenticate(user_id, response, now)
        except _Refused as refused:
            return KeyCheck(KeyVerdict.refused, refused.reason)

    async def _register(self, user: User, response: KeyResponse, name: str, now: float) -> SecurityKey:
        challenge = await self._claim(response, user.user_id, CREATE, now)
        try:
            credential = parse_registration_credential_json(response.credential)
            verified = webauthn.verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self.party.rp_id,
                expected_origin=self.party.origin,
            )
        except _MALFORMED as error:
            raise _Refused(_reason(error, "webauthn.attestation")) from None
        credential_id = bytes_to_base64url(verified.credential_id)
        if len(credential_id) > MAX_CREDENTIAL_ID:
            raise _Refused("webauthn.credential_id")
        transports = known_transports(t.value for t in credential.response.transports or ())
        key = SecurityKey(credential_id=credential_id, user_id=user.user_id, name=name,
                          public_key=verified.credential_public_key, sign_count=verified.sign_count,
                          created_at=datetime.fromtimestamp(now, UTC), transports=transports)  # fmt: skip
        if not await self.store.add_security_key(key):
            raise _Refused("webauthn.credential_taken")
        return key

    async def _authenticate(self, user_id: str, response: KeyResponse, now: float) -> KeyCheck:
        challenge = await self._claim(response, user_id, GET, now)
        try:
            credential = parse_authentication_credential_json(response.credential)
        except _MALFORMED:
            raise _Refused("webauthn.assertion") from None
        key = await self.store.security_key(user_id, bytes_to_base64url(credential.raw_id))
        if key is None:  # unknown, or another person's credential
            raise _Refused("webauthn.credential_unknown")
        handle = credential.response.user_handle
        if handle is not None and not hmac.compare_digest(handle, user_id.encode()):
            raise _Refused("webauthn.user_handle")
        try:
            verified = webauthn.verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self.party.rp_id,
                expected_origin=self.party.origin,
                credential_public_key=key.public_key,
                credential_current_sign_count=0,  # the counter is checked below, once the signature holds
            )
        except _MALFORMED as error:
            raise _Refused(_reason(error, "webauthn.assertion")) from None
        count, used_at = verified.new_sign_count, datetime.fromtimestamp(now, UTC)
        moved = counter_moved(key.sign_count, count)
        if not moved or not await self.store.claim_sign_count(user_id, key.credential_id, count, used_at):
            return KeyCheck(KeyVerdict.cloned, "webauthn.sign_count", key)
        return KeyCheck(KeyVerdict.accepted, key=key)

    def _seal(self, challenge: bytes, user_id: str, purpose: str, flow: str, now: float) -> str:
        claims: dict[str, Any] = {
            "iss": self.party.origin,
            "aud": self._audience,
            "iat": int(now),
            "exp": int(now) + self.seconds,
            "chl": bytes_to_base64url(challenge),
            "uid": user_id,
            "use": purpose,
            "flow": _digest(flow),
        }
        return sign_jwt(claims, self.keys.active(), typ=CEREMONY_TYP)

    async def _claim(self, response: KeyResponse, user_id: str, purpose: str, now: float) -> bytes:
        """The challenge of a ceremony sealed by us, for this user, purpose and page, claimed once."""
        keys = self.keys.verification_keys()
        try:
            claims = verify_jwt(response.ceremony, keys, algorithms={a for k in keys for a in k.algorithms},
                                typ=CEREMONY_TYP, max_bytes=4096)  # fmt: skip
            check_claims(claims, issuer=self.party.origin, audience=self._audience, now=now, skew=0)
        except TokenError as error:
            raise _Refused(f"webauthn.ceremony ({error.reason})") from None
        bound = hmac.compare_digest(str(claims.get("flow", "")), _digest(response.flow))
        challenge = claims.get("chl")
        if not bound or claims.get("uid") != user_id or claims.get("use") != purpose:
            raise _Refused("webauthn.ceremony_binding")
        if not isinstance(challenge, str) or not await self.replay.first_use(
            f"webauthn:{challenge}", float(claims["exp"])
        ):
            raise _Refused("webauthn.challenge_replayed")
        return base64url_to_bytes(challenge)

    @property
    def _audience(self) -> str:
        return self.party.origin + "/oauth2/webauthn"


def _descriptors(keys: Iterable[SecurityKey]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=base64url_to_bytes(key.credential_id),
            transports=[AuthenticatorTransport(t) for t in key.transports] or None,
        )
        for key in keys
    ]


def _reason(error: Exception, otherwise: str) -> str:
    """A log-friendly name for what py_webauthn refused (its messages may quote what the browser sent)."""
    text = str(error)
    for marker, reason in _REASONS:
        if marker in text:
            return reason
    return otherwise


_REASONS = (
    ("origin", "webauthn.origin"),
    ("RP ID", "webauthn.rp_id"),
    ("challenge", "webauthn.challenge"),
    ("signature", "webauthn.signature"),
    ("client data type", "webauthn.type"),
    ("not present", "webauthn.user_presence"),
)


def _digest(flow: str) -> str:
    return hashlib.sha256(flow.encode("utf-8", "replace")).hexdigest()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
