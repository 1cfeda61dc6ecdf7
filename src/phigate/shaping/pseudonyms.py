"""Per-vendor masking keys: stable pseudonyms within one vendor, unlinkable across vendors.

One 32-byte root secret lives in the :class:`~phigate.ports.SecretStore`
(encrypted at rest by the keyring, purpose ``masking-root``); every vendor's
keys are derived from it with HKDF-SHA256 (RFC 5869), ``info`` naming the use
and the vendor. So a vendor's pseudonyms survive restarts and are the same on
every node, two vendors' pseudonyms of one patient cannot be linked without
the root secret, and no per-vendor key has to be stored or rotated on its own.

Hashing uses the standard library's HMAC only (RFC 5869 is a few lines of
HMAC): the JOSE and crypto libraries stay in ``phigate.oauth`` (STYLE 11).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from phigate.errors import KeyStoreError
from phigate.ports import SecretStore

PURPOSE = "masking-root"
_PREFIX = "masking-root:"
_SALT = b"phigate masking v1"
DATE_SHIFT_DAYS = 50  # offsets fall in [-50, +50], the anonymizer's 100-day window


def hkdf_sha256(secret: bytes, info: bytes, length: int = 32, salt: bytes = _SALT) -> bytes:
    """RFC 5869 extract-then-expand."""
    prk = hmac.new(salt, secret, hashlib.sha256).digest()
    output, block, counter = b"", b"", 1
    while len(output) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        output += block
        counter += 1
    return output[:length]


@dataclass(frozen=True)
class VendorKeys:
    """The masking keys of one vendor; ``repr`` hides them."""

    vendor_id: str
    _hash: bytes = field(repr=False)
    _shift: bytes = field(repr=False)
    _noise: bytes = field(repr=False)

    def pseudonym(self, value: str) -> str:
        """HMAC-SHA256 of ``value``, hex (64 characters)."""
        return hmac.new(self._hash, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def date_offset(self, scope: str) -> int:
        """Days in [-50, +50] every date of ``scope`` (a patient) moves by, for this vendor."""
        digest = hmac.new(self._shift, scope.encode("utf-8"), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") % (2 * DATE_SHIFT_DAYS + 1) - DATE_SHIFT_DAYS

    def noise(self, scope: str) -> float:
        """A fraction in [-0.5, 0.5) fixed by ``scope``: the same value is perturbed the same way each time,
        so repeating a request and averaging does not wear the noise away."""
        digest = hmac.new(self._noise, scope.encode("utf-8"), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 - 0.5


class PseudonymKeys:
    """The node's masking keys. :meth:`load` once at start-up; :meth:`for_vendor` on the request path.

    The first node to start creates the root secret. Two nodes starting at the very
    same moment on an empty store could each write one; every node therefore uses
    the smallest name stored after its own write, and a later :meth:`load`
    converges on it.
    """

    def __init__(self) -> None:
        self._root: bytes | None = None
        self._cache: dict[str, VendorKeys] = {}

    @classmethod
    def from_root(cls, root: bytes) -> PseudonymKeys:
        keys = cls()
        keys._root = root
        return keys

    @property
    def loaded(self) -> bool:
        return self._root is not None

    async def load(self, store: SecretStore) -> None:
        names = sorted(n for n in await store.names(PURPOSE) if n.startswith(_PREFIX))
        if not names:
            await store.put(_PREFIX + secrets.token_hex(8), secrets.token_bytes(32), purpose=PURPOSE)
            names = sorted(n for n in await store.names(PURPOSE) if n.startswith(_PREFIX))
        value = await store.get(names[0]) if names else None
        if value is None or len(value) != 32:
            raise KeyStoreError("The masking root secret could not be read from the key store.")
        self._root = value
        self._cache.clear()

    def for_vendor(self, vendor_id: str) -> VendorKeys:
        keys = self._cache.get(vendor_id)
        if keys is not None:
            return keys
        if self._root is None:
            raise KeyStoreError("The masking keys were not loaded.")
        vendor = vendor_id.encode("utf-8")
        keys = VendorKeys(
            vendor_id,
            hkdf_sha256(self._root, b"cryptoHash|" + vendor),
            hkdf_sha256(self._root, b"dateShift|" + vendor),
            hkdf_sha256(self._root, b"perturb|" + vendor),
        )
        self._cache[vendor_id] = keys
        return keys
