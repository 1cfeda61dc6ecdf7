"""SMART Backend Services end to end: a real client we did not write, then every attack refused.

A running gateway node (TLS) in front of the demo EHR. Authlib's OAuth 2 client
performs client_credentials with private_key_jwt and reads FHIR data with the
token; the other tests play the attacker against the same running gateway.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import ECKey

from fixtures.gateway_stack import Stack, running_stack
from phigate.cli.token import client_assertion
from phigate.oauth.jose import generate_key, sign_jwt
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.oauth.rfc9449 import access_token_hash
from phigate.vendors.clients import TokenBinding

LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
LAB_SCOPES = f"system/Observation.rs?category={LAB} system/Patient.r"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path) as running:
        yield running


def verify(stack: Stack) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=stack.pki.ca_cert)


def http(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=verify(stack), timeout=15)


async def token_for(
    stack: Stack, creds: dict[str, Any], scope: str | None = None, **extra: str
) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "scope": scope or creds["scopes"],
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(creds),
        **extra,
    }
    async with http(stack) as client:
        return await client.post(creds["token_endpoint"], data=form)


async def access_token(stack: Stack, creds: dict[str, Any], scope: str | None = None) -> str:
    reply = await token_for(stack, creds, scope)
    assert reply.status_code == 200, reply.text
    token: str = reply.json()["access_token"]
    return token


async def fhir_get(stack: Stack, path: str, token: str, **headers: str) -> httpx.Response:
    async with http(stack) as client:
        return await client.get(stack.public + path, headers={"authorization": f"Bearer {token}", **headers})


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_for(stack: Stack, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": stack.node.endpoints.issuer,
        "sub": "acme-lab",
        "client_id": "acme-lab",
        "aud": stack.node.endpoints.fhir_bases[0],
        "scope": LAB_SCOPES,
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(12),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


# -- a real client we did not write -------------------------------------------------------


async def test_authlib_client_gets_a_token_with_private_key_jwt_and_reads_fhir(stack: Stack) -> None:
    creds = await stack.register("acme-lab", LAB_SCOPES)
    key = creds["private_jwk"]
    ec_key = ECKey.import_key(
        key
    )  # Authlib reads a bare PEM or dict as RSA; an EC key goes in as a key object
    auth = PrivateKeyJWT(
        creds["token_endpoint"],
        alg="ES384",
        headers={"kid": key["kid"]},
        claims={
            "exp": int(time.time()) + 240
        },  # SMART: at most five minutes ahead (Authlib's default is an hour)
    )
    async with AsyncOAuth2Client(
        creds["client_id"], ec_key, token_endpoint_auth_method=auth, scope=LAB_SCOPES, verify=verify(stack)
    ) as client:
        token = await client.fetch_token(creds["token_endpoint"], grant_type="client_credentials")
        assert token["token_type"] == "Bearer" and token["expires_in"] <= 300
        assert set(token["scope"].split()) == set(LAB_SCOPES.split())
        bundle = await client.get(f"{stack.public}/fhir/Observation", params={"patient": "pat-canary"})
        patient = await client.get(f"{stack.public}/fhir/Patient/pat-canary")
    assert bundle.status_code == 200, bundle.text
    entries = bundle.json()["entry"]
    assert entries and all(e["resource"]["resourceType"] == "Observation" for e in entries)
    categories = {c["code"] for e in entries for cat in e["resource"]["category"] for c in cat["coding"]}
    assert categories == {"laboratory"}  # narrowed to the granted category, upstream and after
    assert patient.status_code == 200 and patient.json()["id"] == "pat-canary"


async def test_discovery_documents_advertise_backend_services(stack: Stack) -> None:
    async with http(stack) as client:
        smart = (await client.get(stack.public + "/fhir/.well-known/smart-configuration")).json()
        oidc = (await client.get(stack.public + "/.well-known/openid-configuration")).json()
        jwks = (await client.get(stack.public + "/oauth2/jwks")).json()
    assert "client-confidential-asymmetric" in smart["capabilities"]
    assert "client_credentials" in smart["grant_types_supported"]
    assert smart["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(smart["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}
    assert "plain" not in smart["code_challenge_methods_supported"]
    assert oidc["issuer"] == stack.node.endpoints.issuer
    assert oidc["token_endpoint"] == smart["token_endpoint"] == stack.node.endpoints.token
    assert jwks["keys"] and all("d" not in key for key in jwks["keys"])


# -- the token endpoint refuses ---------------------------------------------------------


async def test_a_replayed_client_assertion_is_refused(stack: Stack) -> None:
    creds = await stack.register("acme-lab", LAB_SCOPES)
    form = {
        "grant_type": "client_credentials",
        "scope": LAB_SCOPES,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(creds),
    }
    async with http(stack) as client:
        first = await client.post(creds["token_endpoint"], data=form)
        second = await client.post(creds["token_endpoint"], data=form)
    assert first.status_code == 200
    assert second.status_code == 401 and second.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"exp": 3600}, "exp more than five minutes ahead"),
        ({"exp": -60}, "expired"),
        ({"aud": "https://elsewhere.example/token"}, "aud is not our token endpoint"),
        ({"sub": "someone-else"}, "sub differs from iss"),
        ({"jti": None}, "no jti"),
    ],
)
async def test_a_bad_client_assertion_is_invalid_client(
    stack: Stack, change: dict[str, Any], why: str
) -> None:
    creds = await stack.register("acme-lab", LAB_SCOPES)
    now = int(time.time())
    claims = {"iss": "acme-lab", "sub": "acme-lab", "aud": creds["token_endpoint"], "iat": now,
              "exp": now + 240, "jti": secrets.token_urlsafe(8)}  # fmt: skip
    for name, value in change.items():
        claims[name] = now + value if name == "exp" else value
    assertion = sign_jwt({k: v for k, v in claims.items() if v is not None}, creds["private_jwk"], typ="JWT")
    form = {"grant_type": "client_credentials", "scope": LAB_SCOPES, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion}  # fmt: skip
    async with http(stack) as client:
        reply = await client.post(creds["token_endpoint"], data=form)
    assert reply.status_code == 401, why
    assert reply.json()["error"] == "invalid_client"
    assert reply.headers["cache-control"] == "no-store"


async def test_an_assertion_signed_by_another_key_is_refused(stack: Stack) -> None:
    creds = await stack.register("acme-lab", LAB_SCOPES)
    impostor, _ = generate_key("ES384")
    impostor["kid"] = creds["private_jwk"]["kid"]  # claims the registered key's id
    reply = await token_for(stack, {**creds, "private_jwk": impostor})
    assert reply.status_code == 401 and reply.json()["error"] == "invalid_client"


async def test_scopes_are_never_wider_than_registered(stack: Stack) -> None:
    creds = await stack.register("acme-lab", LAB_SCOPES)
    wider = await token_for(stack, creds, scope="system/*.cruds")
    malformed = await token_for(stack, creds, scope="system/Observation.sr")
    patient = await token_for(stack, creds, scope="patient/Observation.rs")
    assert wider.status_code == 200
    assert set(wider.json()["scope"].split()) <= set(LAB_SCOPES.split())  # narrowed to the registration
    assert malformed.status_code == 400 and malformed.json()["error"] == "invalid_scope"
    assert "system/Observation.sr" in malformed.json()["error_description"]
    assert patient.status_code == 400 and patient.json()["error"] == "invalid_scope"


async def test_a_disabled_client_gets_no_token(stack: Stack) -> None:
    creds = await stack.register("acme-lab", LAB_SCOPES)
    await stack.node.services.clients.disable(creds["client_id"])
    reply = await token_for(stack, creds)
    assert reply.status_code == 401 and reply.json()["error"] == "invalid_client"


# -- the FHIR API refuses forged and misused tokens --------------------------------------


async def test_forged_and_misused_access_tokens_are_401(stack: Stack) -> None:
    creds = await stack.register("acme-lab", LAB_SCOPES)
    good = await access_token(stack, creds)
    key = stack.node.services.signing_keys.active()
    public_jwk = dict(key.public_jwk)
    attacker, attacker_public = generate_key("ES256")
    header_of = json.loads(base64.urlsafe_b64decode(good.split(".")[0] + "=="))
    body = claims_for(stack)
    forged = {
        "alg none": f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': key.kid})}.{b64(body)}.",
        "HS256 with the public key": _hs256(body, key.kid, json.dumps(public_jwk).encode()),
        "unknown kid": sign_jwt(body, {**attacker, "kid": "no-such-key"}, typ="at+jwt"),
        "path kid": sign_jwt(body, {**attacker, "kid": "../../../../dev/null"}, typ="at+jwt"),
        "sql kid": sign_jwt(body, {**attacker, "kid": "' UNION SELECT 'k'--"}, typ="at+jwt"),
        "our kid, attacker key": sign_jwt(body, {**attacker, "kid": key.kid}, typ="at+jwt"),
        "embedded jwk": sign_jwt(body, attacker, typ="at+jwt", extra_header={"jwk": attacker_public}),
        "jku": sign_jwt(body, attacker, typ="at+jwt", extra_header={"jku": "https://evil.example/jwks"}),
        "expired": sign_jwt(claims_for(stack, exp=int(time.time()) - 120), key, typ="at+jwt"),
        "not yet valid": sign_jwt(claims_for(stack, nbf=int(time.time()) + 600), key, typ="at+jwt"),
        "wrong aud": sign_jwt(claims_for(stack, aud="https://other.example/fhir"), key, typ="at+jwt"),
        "wrong iss": sign_jwt(claims_for(stack, iss="https://evil.example"), key, typ="at+jwt"),
        "ID token": sign_jwt(claims_for(stack, aud="acme-lab", scope=None), key, typ="JWT"),
        "ID token typ": sign_jwt(claims_for(stack), key, typ="JWT"),
        "tampered payload": ".".join(
            [good.split(".")[0], b64(body | {"scope": "system/*.cruds"}), good.split(".")[2]]
        ),
        "JWE": "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d",
        "oversize": good + "A" * 9000,
    }
    assert header_of["typ"] == "at+jwt"
    for name, token in forged.items():
        reply = await fhir_get(stack, "/fhir/Patient/pat-canary", token)
        assert reply.status_code == 401, name
        assert reply.json()["resourceType"] == "OperationOutcome", name
        assert "invalid_token" in reply.headers["www-authenticate"] or name == "oversize", name
    assert (await fhir_get(stack, "/fhir/Patient/pat-canary", good)).status_code == 200


def _hs256(claims: dict[str, Any], kid: str, secret: bytes) -> str:
    import hashlib
    import hmac

    signing_input = f"{b64({'alg': 'HS256', 'typ': 'at+jwt', 'kid': kid})}.{b64(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


async def test_a_token_in_the_query_string_is_refused(stack: Stack) -> None:
    creds = await stack.register("acme-lab", LAB_SCOPES)
    token = await access_token(stack, creds)
    async with http(stack) as client:
        reply = await client.get(f"{stack.public}/fhir/Patient/pat-canary", params={"access_token": token})
    assert reply.status_code == 401


# -- scopes enforced per interaction -------------------------------------------------------


async def test_an_observation_token_cannot_create_or_read_other_types(stack: Stack) -> None:
    creds = await stack.register("obs-reader", "system/Observation.rs")
    token = await access_token(stack, creds)
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    async with http(stack) as client:
        headers = {"authorization": f"Bearer {token}", "content-type": "application/fhir+json"}
        create = await client.post(stack.public + "/fhir/Observation", json=observation, headers=headers)
        claim = await client.get(stack.public + "/fhir/Claim", headers=headers)
        patient = await client.get(stack.public + "/fhir/Patient/pat-canary", headers=headers)
        search = await client.get(stack.public + "/fhir/Observation?patient=pat-canary", headers=headers)
    assert create.status_code == 403 and "system/Observation.c" in create.json()["issue"][0]["diagnostics"]
    assert claim.status_code == 403 and "system/Claim.s" in claim.json()["issue"][0]["diagnostics"]
    assert patient.status_code == 403 and "system/Patient.r" in patient.json()["issue"][0]["diagnostics"]
    assert search.status_code == 200


async def test_read_without_search_permission_cannot_search(stack: Stack) -> None:
    creds = await stack.register("patient-reader", "system/Patient.r")
    token = await access_token(stack, creds)
    assert (await fhir_get(stack, "/fhir/Patient/pat-canary", token)).status_code == 200
    search = await fhir_get(stack, "/fhir/Patient?name=Testpatient", token)
    assert search.status_code == 403 and "system/Patient.s" in search.json()["issue"][0]["diagnostics"]


async def test_a_category_constrained_token_cannot_read_another_category(stack: Stack) -> None:
    creds = await stack.register("acme-lab", LAB_SCOPES)
    token = await access_token(stack, creds)
    async with http(stack) as client:
        query = {"patient": "pat-canary", "category": "vital-signs"}
        vitals = (await client.get(f"{stack.ehr}/fhir/Observation", params=query)).json()
    vital_id = vitals["entry"][0]["resource"]["id"]
    search = await fhir_get(stack, "/fhir/Observation?patient=pat-canary&category=vital-signs", token)
    read = await fhir_get(stack, f"/fhir/Observation/{vital_id}", token)
    assert search.status_code == 403
    assert read.status_code == 403  # refused after the upstream answered: the resource is outside the scope
    assert "vital" not in read.text.lower()


async def test_a_batch_smuggling_a_forbidden_entry_is_refused_whole(stack: Stack) -> None:
    creds = await stack.register("acme-lab", LAB_SCOPES)
    token = await access_token(stack, creds)
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": "Patient/pat-canary"}},
            {"request": {"method": "GET", "url": "Claim?patient=pat-canary"}},
        ],
    }
    async with http(stack) as client:
        reply = await client.post(
            stack.public + "/fhir",
            json=bundle,
            headers={"authorization": f"Bearer {token}", "content-type": "application/fhir+json"},
        )
    assert reply.status_code == 403
    assert "Bundle.entry[1]" in reply.json()["issue"][0]["diagnostics"]


# -- sender-constrained tokens -------------------------------------------------------------


def dpop_proof(
    key: dict[str, Any], public: dict[str, Any], method: str, url: str, token: str | None = None
) -> str:
    claims: dict[str, Any] = {
        "htm": method,
        "htu": url,
        "iat": int(time.time()),
        "jti": secrets.token_urlsafe(12),
    }
    if token is not None:
        claims["ath"] = access_token_hash(token)
    return sign_jwt(claims, key, typ="dpop+jwt", extra_header={"jwk": public})


async def test_dpop_bound_token_needs_a_fresh_proof_of_the_same_key(stack: Stack) -> None:
    creds = await stack.register("dpop-lab", "system/Patient.r", token_binding=TokenBinding.dpop)
    key, public = generate_key("ES256")
    other, other_public = generate_key("ES256")
    token_url = creds["token_endpoint"]
    without_proof = await token_for(stack, creds)
    assert without_proof.status_code == 400 and without_proof.json()["error"] == "invalid_dpop_proof"
    form = {"grant_type": "client_credentials", "scope": "system/Patient.r",
            "client_assertion_type": ASSERTION_TYPE, "client_assertion": client_assertion(creds)}  # fmt: skip
    async with http(stack) as client:
        issued = await client.post(
            token_url, data=form, headers={"dpop": dpop_proof(key, public, "POST", token_url)}
        )
    assert issued.status_code == 200, issued.text
    assert issued.json()["token_type"] == "DPoP"
    token = issued.json()["access_token"]
    url = f"{stack.node.endpoints.issuer}/fhir/Patient/pat-canary"
    proof = dpop_proof(key, public, "GET", url, token)
    ok = await fhir_get(stack, "/fhir/Patient/pat-canary", token, authorization=f"DPoP {token}", dpop=proof)
    replayed = await fhir_get(
        stack, "/fhir/Patient/pat-canary", token, authorization=f"DPoP {token}", dpop=proof
    )
    other_key = await fhir_get(stack, "/fhir/Patient/pat-canary", token, authorization=f"DPoP {token}",
                               dpop=dpop_proof(other, other_public, "GET", url, token))  # fmt: skip
    wrong_url = await fhir_get(stack, "/fhir/Patient/pat-canary", token, authorization=f"DPoP {token}",
                               dpop=dpop_proof(key, public, "GET", url + "-other", token))  # fmt: skip
    as_bearer = await fhir_get(stack, "/fhir/Patient/pat-canary", token)
    assert ok.status_code == 200, ok.text
    assert replayed.status_code == 401
    assert other_key.status_code == 401
    assert wrong_url.status_code == 401
    assert as_bearer.status_code == 401


# -- revocation and introspection ----------------------------------------------------------


async def test_revoked_token_is_refused_and_introspection_tells(stack: Stack) -> None:
    creds = await stack.register("acme-lab", LAB_SCOPES)
    token = await access_token(stack, creds)

    def authenticated(endpoint: str, **extra: str) -> dict[str, str]:
        assertion = client_assertion({**creds, "token_endpoint": endpoint})
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion, **extra}

    endpoints = stack.node.endpoints
    async with http(stack) as client:
        active = await client.post(
            endpoints.introspection, data=authenticated(endpoints.introspection, token=token)
        )
        revoked = await client.post(
            endpoints.revocation, data=authenticated(endpoints.revocation, token=token)
        )
        after = await client.post(
            endpoints.introspection, data=authenticated(endpoints.introspection, token=token)
        )
    assert active.json()["active"] is True and active.json()["client_id"] == "acme-lab"
    assert revoked.status_code == 200
    assert after.json() == {"active": False}
    assert (await fhir_get(stack, "/fhir/Patient/pat-canary", token)).status_code == 401


async def test_a_search_by_post_is_decided_on_its_form_parameters_too(stack: Stack) -> None:
    creds = await stack.register("acme-lab", LAB_SCOPES)
    token = await access_token(stack, creds)
    headers = {"authorization": f"Bearer {token}", "content-type": "application/x-www-form-urlencoded"}
    async with http(stack) as client:
        smuggled = await client.post(
            stack.public + "/fhir/Observation/_search",
            content=b"patient=pat-canary&category=vital-signs",
            headers=headers,
        )
        allowed = await client.post(
            stack.public + "/fhir/Observation/_search", content=b"patient=pat-canary", headers=headers
        )
    assert smuggled.status_code == 403
    assert allowed.status_code == 200, allowed.text
    entries = allowed.json()["entry"]
    assert entries and all(
        coding["code"] == "laboratory"
        for entry in entries
        for category in entry["resource"]["category"]
        for coding in category["coding"]
    )
