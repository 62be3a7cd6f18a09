"""The Zipkin proxy compresses only for clients that asked: the upstream sees their own
``Accept-Encoding`` (or ``identity``), never httpx's default ``gzip, deflate``."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from alexandrite.gateway.zipkin_proxy import ZipkinProxy

_BODY = "span " * 2000  # well past GZipMiddleware's minimum size


async def _traces(request: Request) -> PlainTextResponse:
    return PlainTextResponse(_BODY)


# A real ASGI server stack that gzips whenever the request allows it, as Zipkin (Armeria) does.
_UPSTREAM = Starlette(
    routes=[Route("/api/v2/traces", _traces)], middleware=[Middleware(GZipMiddleware)]
)


def _request(headers: dict[str, str]) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/zipkin/api/v2/traces",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope)


async def _body(response) -> bytes:
    return b"".join([chunk async for chunk in response.body_iterator])


@pytest.mark.parametrize(
    ("client_headers", "encoding"),
    [({}, None), ({"accept-encoding": "identity"}, None), ({"accept-encoding": "gzip"}, "gzip")],
)
async def test_the_proxy_gzips_only_for_a_client_that_asked(client_headers, encoding):
    transport = httpx.ASGITransport(app=_UPSTREAM)
    async with httpx.AsyncClient(transport=transport, base_url="http://zipkin.test") as client:
        response = await ZipkinProxy(client).forward(_request(client_headers))
        body = await _body(response)
        await response.background()  # type: ignore[misc]
    assert response.headers.get("content-encoding") == encoding
    if encoding is None:
        assert body.decode() == _BODY
