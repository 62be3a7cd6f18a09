"""Calls between our services make one span per hop: folded on success, a client span on failure,
and the callee's bare read dropped at export (alexandrite/common/telemetry/internal_calls.py)."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from alexandrite.common.errors import DependencyFailed
from alexandrite.common.http_client import ServiceClient
from alexandrite.common.telemetry.exporters import ExportCounters, FilteringExporter
from alexandrite.common.telemetry.internal_calls import (
    CALL_COUNT,
    INTERNAL_CALLER,
    TOTAL_DURATION_MS,
    is_bare_internal_read,
)
from alexandrite.common.telemetry.internal_credential import InternalCredential

_tracer = trace.get_tracer("tests")


def _client(handler: httpx.MockTransport) -> ServiceClient:
    client = ServiceClient(
        "http://storage.test", "file-storage", credential=InternalCredential(None)
    )
    client.http._transport = handler  # the real client, answered in memory
    return client


def _attributes(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


async def test_a_successful_call_is_folded_into_its_span_and_still_carries_the_context(
    spans: InMemorySpanExporter,
) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    client = _client(httpx.MockTransport(answer))
    token = otel_context.attach(baggage.set_baggage("order.id", "x"))
    try:
        with _tracer.start_as_current_span("consumer") as parent:
            await client.request("GET", "/api/v1/models/1", "lookup")
            await client.request("GET", "/api/v1/models/2", "lookup")
    finally:
        otel_context.detach(token)
        await client.close()
    (only,) = spans.get_finished_spans()
    assert only.name == "consumer"
    assert _attributes(only)[CALL_COUNT] == 2
    assert float(str(_attributes(only)[TOTAL_DURATION_MS])) > 0
    trace_id = format(parent.get_span_context().trace_id, "032x")
    assert all(trace_id in r.headers["traceparent"] for r in seen)
    assert all(r.headers["baggage"] == "order.id=x" for r in seen)


@pytest.mark.parametrize("failure", ["5xx", "unreachable"])
async def test_a_failed_call_is_a_client_span_of_its_own(
    spans: InMemorySpanExporter, failure: str
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if failure == "unreachable":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(503, json={})

    client = _client(httpx.MockTransport(answer))
    try:
        with _tracer.start_as_current_span("consumer"), pytest.raises(DependencyFailed):
            await client.request("GET", "/api/v1/models/1", "lookup")
    finally:
        await client.close()
    by_name = {s.name: s for s in spans.get_finished_spans()}
    call = by_name["GET"]
    assert call.kind is SpanKind.CLIENT
    assert call.status.status_code is StatusCode.ERROR
    assert call.parent is not None
    assert call.parent.span_id == by_name["consumer"].context.span_id
    assert _attributes(call)["url.full"] == "http://storage.test/api/v1/models/1"
    assert _attributes(call)["error.type"] == (
        "ConnectError" if failure == "unreachable" else "503"
    )
    assert CALL_COUNT not in _attributes(by_name["consumer"])


def _server_span(method: str, status: int, internal: bool, duration_ms: float) -> ReadableSpan:
    span = _tracer.start_span("GET /api/v1/models/{model_id}", kind=SpanKind.SERVER, start_time=0)
    span.set_attributes({"http.request.method": method, "http.response.status_code": status})
    if internal:
        span.set_attribute(INTERNAL_CALLER, True)
    span.end(end_time=int(duration_ms * 1_000_000))
    assert isinstance(span, ReadableSpan)
    return span


@pytest.mark.parametrize(
    ("method", "status", "internal", "duration_ms", "dropped"),
    [
        ("GET", 200, True, 5, True),
        ("GET", 200, False, 5, False),  # a stranger's read: its only record
        ("GET", 404, True, 5, False),  # an error answer keeps its problem event
        ("GET", 200, True, 150, False),  # slow: may hold a slow statement's span
        ("POST", 201, True, 5, False),  # a write holds its business spans
    ],
)
def test_only_a_fast_successful_internal_read_is_dropped_at_export(
    method: str, status: int, internal: bool, duration_ms: float, dropped: bool
) -> None:
    span = _server_span(method, status, internal, duration_ms)
    assert is_bare_internal_read(span, slow_ms=100) is dropped
    memory = InMemorySpanExporter()
    FilteringExporter(memory, ExportCounters()).export([span])
    assert len(memory.get_finished_spans()) == (0 if dropped else 1)
