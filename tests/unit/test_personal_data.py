"""Personal data never leaves a service as a span attribute."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from alexandrite.common.telemetry.exporters import ExportCounters, FilteringExporter
from alexandrite.common.telemetry.personal_data import REDACTED, is_personal_key

PERSONAL = [
    "customer.name",
    "customer.email",
    "customer.phone",
    "customer.address",
    "enduser.id",
    "user.email",
    "shipping_address",
    "billing.address.street",
    "contact.phone",
    "order.customer.email",
    "first_name",
]
TECHNICAL = [
    "order.id",
    "order.status",
    "server.address",
    "client.address",
    "network.peer.address",
    "http.route",
    "messaging.destination.name",
    "model.volume_cm3",
    "db.statement",
]


@pytest.mark.parametrize("key", PERSONAL)
def test_personal_keys_are_denied(key: str) -> None:
    assert is_personal_key(key)


@pytest.mark.parametrize("key", TECHNICAL)
def test_technical_keys_are_kept(key: str) -> None:
    assert not is_personal_key(key)


def test_spans_leave_the_process_without_personal_data() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(FilteringExporter(memory, ExportCounters())))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("create order") as span:
        span.set_attribute("order.id", "7f3c")
        span.set_attribute("customer.name", "Ada Lovelace")
        span.set_attribute("customer.email", "ada@example.com")
        span.set_attribute("customer.phone", "+44 20 7946 0000")
        span.set_attribute("note", "call ada@example.com before printing")
        span.add_event("customer.updated", {"customer.email": "ada@example.com", "fields": 2})
    (exported,) = memory.get_finished_spans()
    attributes = dict(exported.attributes or {})
    assert attributes["order.id"] == "7f3c"
    assert "customer.name" not in attributes
    assert "customer.email" not in attributes
    assert "customer.phone" not in attributes
    assert attributes["note"] == f"call {REDACTED} before printing"
    assert dict(exported.events[0].attributes or {}) == {"fields": 2}
    provider.shutdown()


def test_secrets_in_a_query_string_leave_the_process_masked() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(FilteringExporter(memory, ExportCounters())))
    with provider.get_tracer("test").start_as_current_span("GET /zipkin/api/v2/services") as span:
        span.set_attribute("url.query", "access_token=alx_secret&limit=3")
        span.set_attribute("http.target", "/zipkin/api/v2/services?password=hunter2&limit=3")
        span.set_attribute("url.path", "/zipkin/api/v2/services")
    (exported,) = memory.get_finished_spans()
    attributes = dict(exported.attributes or {})
    assert attributes["url.query"] == "access_token=[redacted]&limit=3"
    assert attributes["http.target"] == "/zipkin/api/v2/services?password=[redacted]&limit=3"
    assert attributes["url.path"] == "/zipkin/api/v2/services"
    provider.shutdown()


def test_a_failing_exporter_counts_the_spans_it_lost() -> None:
    class Down(InMemorySpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            raise ConnectionError("collector down")

    counters = ExportCounters()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(FilteringExporter(Down(), counters)))
    tracer = provider.get_tracer("test")
    for _ in range(3):
        with tracer.start_as_current_span("work"):
            pass
    assert (counters.exported, counters.failed) == (0, 3)
    provider.shutdown()
