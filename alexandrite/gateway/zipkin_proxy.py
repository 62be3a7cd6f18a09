"""A streaming, read-only reverse proxy to Zipkin's UI and API.

The Zipkin UI (Lens) takes its base path from the page's ``<base href="/zipkin/">`` and calls
``/zipkin/api/v2/…`` relative to it, so the gateway serves it at the same path, ``/zipkin/``:
``/zipkin/api/v2/X`` goes to Zipkin's ``/api/v2/X``, anything else under ``/zipkin/`` to the
same path on Zipkin. Only GET and HEAD pass (nobody writes spans through the gateway). The
client's cookies and Authorization never reach Zipkin, nor a secret put in the query string
(masked, so it is not in the gateway's request log either); Zipkin's Set-Cookie never reaches
the client. Bodies are streamed both ways, never buffered.

The client's ``Accept-Encoding`` is forwarded as it is, and ``identity`` when it sent none,
so a compressed body reaches only a client that asked for one.

One repair on the way: Lens (Zipkin 3.x) turns a search whose terms are all autocomplete keys
(ours: ``order.id``) into ``annotationQuery=order.id=<id> and `` with an empty last term, and
Zipkin answers that with no traces at all. Empty terms are dropped before the search reaches
Zipkin (``clean_query``).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse

from alexandrite.common.errors import DependencyFailed
from alexandrite.common.query_secrets import redact_query

__all__ = ["ZipkinProxy", "clean_query", "upstream_path"]

_FORWARDED_REQUEST_HEADERS = (
    "accept",
    "accept-encoding",
    "accept-language",
    "if-none-match",
    "if-modified-since",
    "range",
    "cache-control",
)
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "set-cookie",
        "server",
        "date",
    }
)


def clean_query(query: str) -> str:
    """The query string with empty terms removed from ``annotationQuery``."""
    if "annotationQuery" not in query:
        return query
    pairs = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key != "annotationQuery":
            pairs.append((key, value))
            continue
        terms = (term.strip() for term in value.split(" and "))
        pairs.append((key, " and ".join(term for term in terms if term)))
    return urlencode(pairs, quote_via=quote)


def upstream_path(path: str) -> str:
    """Zipkin's path for a gateway path under /zipkin."""
    if path.startswith("/zipkin/api/"):
        return path.removeprefix("/zipkin")
    if path == "/zipkin":
        return "/zipkin/"
    return path


class ZipkinProxy:
    def __init__(self, client: httpx.AsyncClient) -> None:
        # The client's base_url is Zipkin's root (http(s)://127.0.0.1:9411).
        self._client = client

    async def forward(self, request: Request) -> StreamingResponse:
        headers = {
            name: value
            for name in _FORWARDED_REQUEST_HEADERS
            if (value := request.headers.get(name)) is not None
        }
        # Bodies pass raw (aiter_raw), so Zipkin must encode only as the client asked: without
        # this, httpx's default "gzip, deflate" would reach Zipkin for a client that sent no
        # Accept-Encoding, and the client would get gzip it never asked for.
        headers.setdefault("accept-encoding", "identity")
        query = redact_query(clean_query(request.url.query))
        target = upstream_path(request.url.path) + (f"?{query}" if query else "")
        upstream = self._client.build_request(request.method, target, headers=headers)
        try:
            response = await self._client.send(upstream, stream=True)
        except httpx.HTTPError as exc:
            raise DependencyFailed(f"Zipkin is unreachable: {exc}") from exc
        return StreamingResponse(
            response.aiter_raw(),
            status_code=response.status_code,
            headers={
                name: value
                for name, value in response.headers.items()
                if name.lower() not in _HOP_BY_HOP
            },
            background=BackgroundTask(response.aclose),
        )
