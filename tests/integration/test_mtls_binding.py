"""RFC 8705: a token bound to the client certificate it was issued over works only with that certificate."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

from fixtures.gateway_stack import running_stack
from phigate.adapters.pki import issue_client_certificate
from phigate.cli.token import client_assertion
from phigate.oauth.rfc7523 import ASSERTION_TYPE
from phigate.oauth.rfc8705 import certificate_thumbprint
from phigate.vendors.clients import TokenBinding


def tls_client(ca: Path, cert: Path | None = None, key: Path | None = None) -> httpx.AsyncClient:
    context = ssl.create_default_context(cafile=ca)
    if cert is not None:
        context.load_cert_chain(cert, key)
    return httpx.AsyncClient(verify=context, timeout=15)


async def test_a_certificate_bound_token_needs_its_certificate(tmp_path: Path) -> None:
    async with running_stack(tmp_path, client_cert="optional") as stack:
        mine = issue_client_certificate(stack.pki, "lab-gateway")
        other = issue_client_certificate(stack.pki, "someone-else")
        der = ssl.PEM_cert_to_DER_cert(mine.cert_file.read_text())
        creds = await stack.register(
            "mtls-lab",
            "system/Patient.r",
            token_binding=TokenBinding.mtls,
            mtls_thumbprint=certificate_thumbprint(der),
        )
        form = {
            "grant_type": "client_credentials",
            "scope": "system/Patient.r",
            "client_assertion_type": ASSERTION_TYPE,
        }
        ca = stack.pki.ca_cert
        async with tls_client(ca) as anonymous:
            refused = await anonymous.post(
                creds["token_endpoint"], data=form | {"client_assertion": client_assertion(creds)}
            )
        async with tls_client(ca, mine.cert_file, mine.key_file) as bound:
            issued = await bound.post(
                creds["token_endpoint"], data=form | {"client_assertion": client_assertion(creds)}
            )
            token = issued.json()["access_token"]
            with_cert = await bound.get(
                stack.public + "/fhir/Patient/pat-canary", headers={"authorization": f"Bearer {token}"}
            )
        async with tls_client(ca, other.cert_file, other.key_file) as stranger:
            other_cert = await stranger.get(
                stack.public + "/fhir/Patient/pat-canary", headers={"authorization": f"Bearer {token}"}
            )
        async with tls_client(ca) as anonymous:
            no_cert = await anonymous.get(
                stack.public + "/fhir/Patient/pat-canary", headers={"authorization": f"Bearer {token}"}
            )
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
    assert issued.status_code == 200, issued.text
    assert with_cert.status_code == 200, with_cert.text
    assert other_cert.status_code == 401
    assert no_cert.status_code == 401
