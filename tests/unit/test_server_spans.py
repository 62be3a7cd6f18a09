"""Server spans made by our own middleware (telemetry/server_spans.py): the name, attributes,
status and events that the console, the Collector's span metrics and the tests read.

A real FastAPI app with the platform's error handlers, instrumented by
``Telemetry.instrument_app``, called in memory through ``httpx.ASGITransport``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from alexandrite.common.problems import install_error_handlers
from alexandrite.common.settings import TelemetrySettings
from alexandrite.common.telemetry import Telemetry

ORDER = "6f1c9a52-3f7e-4d2b-9a47-0c6f2b1e8d33"
STRANGER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _app(tmp_path: Path) -> FastAPI:
    (tmp_path / "internal-token").write_text(secrets.token_urlsafe(32))
    app = FastAPI()
    install_error_handlers(app)
    orders = APIRouter()

    @orders.get("/orders/{order_id}")
    async def get_order(order_id: str) -> dict[str, str]:
        with trace.get_tracer("tests").start_as_current_span("business.step"):
            return {"id": order_id}

    @orders.post("/orders")
    async def create(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @orders.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    @orders.get("/refused")
    async def refused() -> None:
        raise HTTPException(409, "no")

    @orders.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"a" * 10
            yield b"b" * 5

        return StreamingResponse(chunks())

    @orders.get("/models/{model_id}/content")
    async def content(model_id: str, request: Request) -> list[str]:
        return sorted(request.headers.keys())

    @orders.get("/headers")
    async def headers(request: Request) -> list[str]:
        return sorted(request.headers.keys())

    app.include_router(orders, prefix="/api/v1")
    # The same router under a second prefix: each request is named after the prefix it used.
    app.include_router(orders, prefix="/api/v2")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    settings = TelemetrySettings(internal_token_file=tmp_path / "internal-token")
    Telemetry.setup("server-span-test", settings).instrument_app(app)
    return app


@pytest.fixture
async def app(tmp_path: Path) -> FastAPI:
    return _app(tmp_path)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
        yield http


def _server_spans(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]


def _only_server_span(spans: InMemorySpanExporter) -> ReadableSpan:
    (span,) = _server_spans(spans)
    return span


async def test_a_read_has_the_route_template_and_the_request_attributes(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await client.get(
        f"/api/v1/orders/{ORDER}?limit=3&b=%20x", headers={"user-agent": "curl/8.0"}
    )
    span = _only_server_span(spans)
    assert span.name == "GET /api/v1/orders/{order_id}"
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "alexandrite.http"
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "http.route": "/api/v1/orders/{order_id}",
        "http.response.status_code": 200,
        "http.request.body.size": 0,
        "http.response.body.size": len(response.content),
        "url.scheme": "http",
        "url.path": f"/api/v1/orders/{ORDER}",
        "url.query": "limit=3&b=%20x",
        "network.protocol.version": "1.1",
        "server.address": "svc:None",
        "client.address": "127.0.0.1",
        "client.port": 123,
        "user_agent.original": "curl/8.0",
    }
    assert span.status.status_code is StatusCode.UNSET
    (business,) = [s for s in spans.get_finished_spans() if s.name == "business.step"]
    assert business.parent is not None and business.parent.span_id == span.context.span_id


async def test_a_write_counts_the_bodies_both_ways(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await client.post("/api/v1/orders", content=b'{"x": 1}')
    span = _only_server_span(spans)
    assert span.name == "POST /api/v1/orders"
    attributes = span.attributes or {}
    assert attributes["http.request.body.size"] == 8
    assert attributes["http.response.body.size"] == len(response.content)


async def test_a_streamed_answer_ends_the_span_with_its_last_chunk(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await client.get("/api/v1/stream")
    assert response.content == b"a" * 10 + b"b" * 5
    assert (_only_server_span(spans).attributes or {})["http.response.body.size"] == 15


async def test_a_router_included_twice_names_the_prefix_the_request_used(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    await client.get(f"/api/v2/orders/{ORDER}")
    await client.get(f"/api/v1/orders/{ORDER}")
    assert [s.name for s in _server_spans(spans)] == [
        "GET /api/v2/orders/{order_id}",
        "GET /api/v1/orders/{order_id}",
    ]


async def test_a_route_added_after_the_first_request_is_named(
    app: FastAPI, client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    await client.get(f"/api/v1/orders/{ORDER}")
    later = APIRouter()

    @later.get("/later/{item}")
    async def item(item: str) -> dict[str, str]:
        return {"item": item}

    app.include_router(later, prefix="/api/v3")
    spans.clear()
    await client.get("/api/v3/later/1")
    assert _only_server_span(spans).name == "GET /api/v3/later/{item}"


async def test_no_route_no_template_and_a_wrong_method_names_the_route(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    assert (await client.get("/api/v1/nothing")).status_code == 404
    assert (await client.put("/api/v1/orders")).status_code == 405
    assert (await client.request("FOO", "/api/v1/orders")).status_code == 405
    missing, wrong_method, unknown_method = _server_spans(spans)
    assert missing.name == "GET"
    assert "http.route" not in (missing.attributes or {})
    assert wrong_method.name == "PUT /api/v1/orders"
    assert (wrong_method.attributes or {})["http.route"] == "/api/v1/orders"
    assert unknown_method.name == "HTTP /api/v1/orders"
    assert (unknown_method.attributes or {})["http.request.method"] == "_OTHER"
    assert (unknown_method.attributes or {})["http.request.method_original"] == "FOO"


async def test_a_4xx_carries_its_problem_and_is_not_an_error(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    assert (await client.get("/api/v1/refused")).status_code == 409
    span = _only_server_span(spans)
    assert span.status.status_code is StatusCode.UNSET
    assert (span.attributes or {})["http.response.status_code"] == 409
    assert [event.name for event in span.events] == ["http.problem"]


async def test_a_5xx_is_an_error_with_its_exception_and_problem(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    assert (await client.get("/api/v1/boom")).status_code == 500
    span = _only_server_span(spans)
    assert span.status.status_code is StatusCode.ERROR
    attributes = span.attributes or {}
    assert attributes["http.response.status_code"] == 500
    assert attributes["error.type"] == "500"
    assert [event.name for event in span.events] == ["http.problem", "exception"]
    assert (span.events[1].attributes or {})["exception.message"] == "kaboom"


@pytest.mark.parametrize("path", ["/health", "/api/v1/models/abc/content?at=1"])
async def test_excluded_paths_make_no_span(
    path: str, client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    assert (await client.get(path)).status_code == 200
    assert spans.get_finished_spans() == ()


async def test_an_excluded_path_still_passes_the_boundary(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await client.get(
        "/api/v1/models/abc/content", headers={"traceparent": STRANGER, "baggage": "a=b"}
    )
    assert "traceparent" not in response.json() and "baggage" not in response.json()


async def test_a_strangers_context_headers_never_reach_the_app(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await client.get(
        "/api/v1/headers", headers={"traceparent": STRANGER, "baggage": f"order.id={ORDER}"}
    )
    assert "traceparent" not in response.json() and "baggage" not in response.json()
    span = _only_server_span(spans)
    assert span.parent is None
    assert "order.id" not in (span.attributes or {})


async def test_fastapi_makes_no_span_of_its_own(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    # FastAPI's built-in telemetry would start its own server span before the trust boundary.
    await client.get(f"/api/v1/orders/{ORDER}", headers={"traceparent": STRANGER})
    scopes = {
        s.instrumentation_scope.name for s in spans.get_finished_spans() if s.instrumentation_scope
    }
    assert scopes == {"alexandrite.http", "tests"}
    assert len(_server_spans(spans)) == 1


async def test_without_tracing_the_app_answers_and_makes_no_span(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    Telemetry.setup("off", TelemetrySettings(enabled=False)).instrument_app(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
        assert (await http.get("/ping")).json() == {"pong": "yes"}
    assert spans.get_finished_spans() == ()
