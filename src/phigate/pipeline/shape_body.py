"""Stage: shape the reply's body by the caller's data contract and its vendor's posture obligation.

Runs after forward and the response check. When the vendor may receive
de-identified data only (``ex.deidentify``, set by the posture stage), the
reply is de-identified with that preset after the contract's own shaping and
before any encryption, with or without a contract
(:mod:`phigate.shaping.deidentify`); a reply that cannot be parsed is refused.

A reply no contract term can change streams through untouched. Otherwise the
body is read once, parsed once (orjson), filtered and masked in place
(:mod:`phigate.shaping.minimise`), serialised once, and, when the contract asks
for it, encrypted as compact JWE to the client's own key (``application/jose``);
``encrypt`` masking rules seal single elements in place (see
:mod:`phigate.shaping.masking`). The key is the client's registered one (see
:meth:`ContractEnforcement.encryption_key`). What was removed or masked is
counted in ``ex.facts["shaping"]`` by rule, never with a value.
"""

from __future__ import annotations

from typing import Any

import orjson
import structlog

from phigate.errors import Forbidden, KeyStoreError, UpstreamError
from phigate.exchange import Exchange, Reply
from phigate.oauth.jwe import MEDIA_TYPE, EncryptionKey, encrypt_compact
from phigate.pipeline.contracts import ContractEnforcement
from phigate.shaping.contracts import Contract
from phigate.shaping.deidentify import PROFILES
from phigate.shaping.deidentify import deidentify as deidentify_document
from phigate.shaping.masking import Sealer
from phigate.shaping.minimise import Bases, needs_body, shape_document
from phigate.shaping.pseudonyms import VendorKeys
from phigate.shaping.tally import Tally

MAX_SHAPED_BYTES = 32 * 1024 * 1024
FHIR_JSON = "application/fhir+json; charset=utf-8"
log = structlog.get_logger("phigate.pipeline")


class ShapeBody:
    def __init__(self, enforcement: ContractEnforcement, upstream_bases: tuple[str, ...]) -> None:
        self.enforcement = enforcement
        self.upstream_bases = upstream_bases

    async def __call__(self, ex: Exchange) -> None:
        contract = self.enforcement.contract_for(ex)
        # The vendor's posture may oblige de-identification (no BAA), with a contract or without one.
        deidentify = PROFILES[ex.deidentify] if ex.deidentify is not None else None
        if (contract is None and deidentify is None) or ex.reply is None or ex.fhir is None:
            return
        if ex.reply.status >= 300 or ex.method == "HEAD":  # an error's or a HEAD's: no resource leaves
            return
        if deidentify is None and contract is not None and not needs_body(contract, ex.fhir):
            return
        document = await _read_json(ex)  # read (and the upstream body closed) before any refusal
        tally = Tally(contract.key if contract is not None else "posture.deidentified_only")
        masks = deidentify is not None or (contract is not None and contract.masking is not None)
        keys = self.enforcement.keys.for_vendor(ex.identity.vendor_id) if masks and ex.identity else None
        key = await self._shape_by_contract(ex, contract, document, keys, tally) if contract else None
        if deidentify is not None:
            if keys is None:
                raise KeyStoreError("The masking keys de-identification needs are not loaded.")
            rewrite = Bases(self.upstream_bases, _public_base(ex)).rewrite if contract is None else None
            deidentify_document(document, deidentify, keys, self.enforcement.clock(), tally, rewrite)
        body = orjson.dumps(document)
        content_type = FHIR_JSON
        if key is not None:
            tally.encrypted = f"jwe:{key.alg}:{key.kid}"
        if contract is not None and contract.encrypt and key is not None:
            body, content_type = encrypt_compact(body, key, content_type="application/fhir+json"), MEDIA_TYPE
        ex.facts["shaping"] = tally.as_fact()
        if tally.changed:
            log.info("response_shaped", request_id=ex.request_id, contract=tally.contract)
        assert ex.reply is not None
        headers = [(k, v) for k, v in ex.reply.headers if k.lower() not in ("content-length", "content-type")]
        ex.reply = Reply(ex.reply.status, [("content-type", content_type), *headers], body)

    async def _shape_by_contract(
        self, ex: Exchange, contract: Contract, document: dict[str, Any], keys: VendorKeys | None,
        tally: Tally,
    ) -> EncryptionKey | None:  # fmt: skip
        """Filter and mask ``document`` by the contract; the key it must be encrypted to, if any."""
        key = None
        if contract.encrypt or contract.seals:
            assert ex.identity is not None  # contract_for found a contract, so there is an identity
            key = await self.enforcement.encryption_key(contract, ex.identity.grant.client_id)
            if key is None:  # never send in the clear what must be encrypted
                raise Forbidden("The data contract requires encryption but no encryption key is registered.")
        bases = Bases(self.upstream_bases, _public_base(ex))
        seal = element_sealer(key) if key is not None and contract.seals else None
        refusal = shape_document(document, contract, keys, self.enforcement.clock(), bases, tally, seal)
        if refusal is not None:
            ex.facts["shaping"] = tally.as_fact()
            raise Forbidden(refusal)
        return key


def element_sealer(key: EncryptionKey) -> Sealer:
    """Seals one element's value: its JSON as a compact JWE to ``key`` (cty application/json)."""

    def seal(value: object) -> str:
        return encrypt_compact(orjson.dumps(value), key, content_type="application/json").decode("ascii")

    return seal


async def _read_json(ex: Exchange) -> dict[str, Any]:
    assert ex.reply is not None
    if any(k.lower() == "content-encoding" and v.lower() != "identity" for k, v in ex.reply.headers):
        raise UpstreamError("The upstream sent an encoded body the gateway cannot shape.")
    body = ex.reply.body
    if isinstance(body, bytes):  # the response check has read it already
        raw = body
    else:
        try:
            raw = await body.read(MAX_SHAPED_BYTES)
        finally:
            await body.close()
    if len(raw) > MAX_SHAPED_BYTES:
        raise UpstreamError("The upstream's answer is too large for the gateway to shape.")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamError() from None
    if not isinstance(document, dict):
        raise UpstreamError()
    return document


def _public_base(ex: Exchange) -> str:
    host = ex.header("host") or "localhost"
    return f"{ex.scheme}://{host}{ex.route_base}"
