"""Data contracts on the request path: the node's compiled contracts, and the narrowing stage.

:class:`ContractEnforcement` is built once per node from ``contracts:`` (a
problem stops the node at start-up, naming the key path) and shared by the
request stage here and the response stage in :mod:`phigate.pipeline.shape_body`.
Its masking keys are loaded from the secret store in the node's lifespan.
A client's response encryption key is read from the client registry (cached
briefly, so a key registered on one node is used by every node within the
cache's ttl), else from ``contracts.*.encryption.keys``.

:class:`NarrowByContract` runs after the authorise stage (the token's scopes
decide first; the contract can only take away): a request the contract forbids
ends with 403 naming the contract rule; an allowed search goes upstream with
the contract's constraints ANDed in, so the upstream returns less.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from phigate.errors import ConfigError, Forbidden
from phigate.exchange import Exchange
from phigate.oauth.jwe import EncryptionKey, import_encryption_key
from phigate.oauth.resource import CachedClients
from phigate.ports import SecretStore
from phigate.settings.contracts import ContractsSettings
from phigate.shaping.contracts import Contract, ContractBook, compile_with_problems
from phigate.shaping.narrowing import narrow
from phigate.shaping.pseudonyms import PseudonymKeys

PURPOSE_HEADER = "x-purpose-of-use"  # a v3 PurposeOfUse code the caller acts under (TREAT, HPAYMT, HRESCH)
_IMPORTED_MAX = 1024
log = structlog.get_logger("phigate.pipeline")


class ContractEnforcement:
    """The node's contracts, their clients' encryption keys, the masking keys and the clock.

    ``clock`` returns epoch seconds; relative constraints (``{now-90d}``) read it.
    Tests may replace it with a fixed one. ``clients`` (the registry, cached) holds
    the encryption keys clients registered; they win over the configured ones.
    """

    def __init__(
        self,
        book: ContractBook,
        encryption: Mapping[str, tuple[EncryptionKey, ...]],
        keys: PseudonymKeys | None = None,
        clock: Callable[[], float] = time.time,
        clients: CachedClients | None = None,
    ) -> None:
        self.book = book
        self.encryption = dict(encryption)
        self.keys = keys or PseudonymKeys()
        self.clock = clock
        self.clients = clients
        self._imported: dict[str, EncryptionKey | None] = {}

    @classmethod
    def from_settings(
        cls, settings: ContractsSettings, clients: CachedClients | None = None
    ) -> ContractEnforcement:
        book, problems = compile_with_problems(settings)
        encryption = {c.key: _keys(c, problems) for c in book.all() if c.encryption_keys}
        if problems:
            raise ConfigError(problems=problems)
        return cls(book, encryption, clients=clients)

    async def encryption_key(self, contract: Contract, client_id: str) -> EncryptionKey | None:
        """The key to encrypt to: the first the client registered, else the contract's first, else none."""
        client = await self.clients.get(client_id) if self.clients is not None else None
        registered = (client.encryption_jwks or {}).get("keys") if client is not None else None
        if registered:
            return self._import(registered[0])
        configured = self.encryption.get(contract.key, ())
        return configured[0] if configured else None

    def _import(self, jwk: Mapping[str, Any]) -> EncryptionKey | None:
        # Parsing a key costs more than a request should pay each time; keyed by the JWK itself,
        # so a rotated key is imported once, the moment the registry shows it.
        text = json.dumps(jwk, sort_keys=True)
        if text not in self._imported:
            if len(self._imported) >= _IMPORTED_MAX:
                self._imported.clear()
            try:
                self._imported[text] = import_encryption_key(jwk)
            except ValueError:
                log.warning("registered_encryption_key_unusable", kid=str(jwk.get("kid", ""))[:64])
                self._imported[text] = None
        return self._imported[text]

    async def load(self, store: SecretStore) -> None:
        """Read (on a first start, create) the masking root secret, before serving: contracts mask with
        it, and so does the de-identification a vendor's posture can require at any time (issue 9)."""
        await self.keys.load(store)

    def contract_for(self, ex: Exchange) -> Contract | None:
        if ex.identity is None or not self.book:
            return None
        return self.book.for_client(ex.identity.grant.client_id, ex.identity.vendor_id)


def _keys(contract: Contract, problems: list[str]) -> tuple[EncryptionKey, ...]:
    keys = []
    for index, jwk in enumerate(contract.encryption_keys):
        try:
            keys.append(import_encryption_key(jwk))
        except ValueError as error:
            problems.append(f"{contract.key}.encryption.keys.{index}: {error}")
    return tuple(keys)


class NarrowByContract:
    def __init__(self, enforcement: ContractEnforcement) -> None:
        self.enforcement = enforcement

    async def __call__(self, ex: Exchange) -> None:
        contract = self.enforcement.contract_for(ex)
        if contract is None or ex.fhir is None:
            return
        purpose = ex.header(PURPOSE_HEADER)
        narrowing = narrow(ex.fhir, contract, self.enforcement.clock(), purpose.strip() if purpose else None)
        fact: dict[str, object] = {"contract": contract.key}
        ex.facts["contract"] = fact
        if narrowing.refusal is not None:
            raise Forbidden(narrowing.refusal)
        if narrowing.purpose is not None:
            fact["purpose"] = narrowing.purpose
        if narrowing.added:
            fact["narrowed"] = list(narrowing.added)  # parameter names only, never values
            ex.fhir = narrowing.request
            ex.query = ex.fhir.to_query()
