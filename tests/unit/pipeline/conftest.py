from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from phigate.exchange import Exchange, Headers
from phigate.types import RequestId


async def _no_body(limit: int) -> bytes:
    return b""


@pytest.fixture
def make_exchange() -> Callable[..., Exchange]:
    def make(
        method: str = "GET",
        path: str = "/fhir/Patient",
        query: str = "",
        headers: Headers | None = None,
        client_ip: str = "127.0.0.1",
        scheme: str = "https",
    ) -> Exchange:
        return Exchange(
            request_id=RequestId("req-00000001"),
            method=method,
            path=path,
            raw_path=path.encode(),
            query=query,
            headers=headers if headers is not None else [("host", "gw.example")],
            client_ip=client_ip,
            scheme=scheme,
            started=time.monotonic(),
            read_body=_no_body,
            route_base="/fhir",
        )

    return make
