"""Data contracts on the request path: the node's compiled contracts, and the narrowing stage.

:class:`ContractEnforcement` is built once per node from ``contracts:`` (a
problem stops the node at start-up, naming the key path) and shared by the
request stage here and the response stage in :mod:`phigate.pipeline.shape_body`.
Its masking keys are loaded from the secret store in the node's lifespan.

:class:`NarrowByContract` runs after the authorise stage (the token's scopes
decide first; the contract can only take away): a request the contract forbids
ends with 403 naming the contract rule; an allowed search goes upstream with
the contract's constraints ANDed in, so the upstream returns less.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from phigate.errors import ConfigError, Forbidden
from phigate.exchange import Exchange
from phigate.oauth.jwe import EncryptionKey, import_encryption_key
from phigate.ports import SecretStore
from phigate.settings.contracts import ContractsSettings
from phigate.shaping.contracts import Contract, ContractBook, compile_with_problems
from phigate.shaping.narrowing import narrow
from phigate.shaping.pseudonyms import PseudonymKeys

PURPOSE_HEADER = "x-purpose-of-use"  # a v3 PurposeOfUse code the caller acts under (TREAT, HPAYMT, HRESCH)


class ContractEnforcement:
    """The node's contracts, their clients' encryption keys, the masking keys and the clock.

    ``clock`` returns epoch seconds; relative constraints (``{now-90d}``) read it.
    Tests may replace it with a fixed one.
    """

    def __init__(
        self,
        book: ContractBook,
        encryption: Mapping[str, tuple[EncryptionKey, ...]],
        keys: PseudonymKeys | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.book = book
        self.encryption = dict(encryption)
        self.keys = keys or PseudonymKeys()
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: ContractsSettings) -> ContractEnforcement:
        book, problems = compile_with_problems(settings)
        encryption = {c.key: _keys(c, problems) for c in book.all() if c.encryption_keys}
        if problems:
            raise ConfigError(problems=problems)
        return cls(book, encryption)

    async def load(self, store: SecretStore) -> None:
        """Read (on a first start, create) the masking root secret: before serving, if any contract masks."""
        if any(contract.masking is not None for contract in self.book.all()):
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
