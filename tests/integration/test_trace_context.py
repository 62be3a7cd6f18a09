"""The tracing contract inside the platform (DESIGN.md §3), read from the spans the real code
produced: context crosses HTTP and RabbitMQ (through the outbox), order.id is on every span that
concerns the order, and every status change is an event."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.integration.conftest import Platform
from tests.integration.flow import place_order, submit, wait_for_crm_status
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


def _attributes(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


def _of_order(spans: InMemorySpanExporter, order_id: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if _attributes(s).get("order.id") == order_id]


async def test_the_submit_request_the_publish_and_the_crm_handling_share_one_trace(
    platform: Platform, spans: InMemorySpanExporter
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        order_id = await place_order(client, platform)
        await submit(client, platform, order_id)
        await wait_for_crm_status(client, platform, order_id, "in_review")

    async def consumer_span() -> ReadableSpan | None:
        for span in spans.get_finished_spans():
            attributes = _attributes(span)
            if (
                span.kind is SpanKind.CONSUMER
                and attributes.get("messaging.rabbitmq.destination.routing_key")
                == "order.submitted"
                and attributes.get("order.id") == order_id
            ):
                return span
        return None

    consumer = await eventually(consumer_span, what="the CRM's consumer span")
    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}
    producer = by_id[consumer.parent.span_id]  # type: ignore[union-attr]
    assert producer.kind is SpanKind.PRODUCER
    assert producer.name == "publish order.submitted"
    assert [link.context.span_id for link in consumer.links] == [producer.context.span_id]
    # The relay published in the context of the request that wrote the event to the outbox.
    (request,) = [
        s
        for s in finished
        if s.kind is SpanKind.SERVER
        and _attributes(s).get("http.route") == "/api/v1/orders/{order_id}/submit"
        and _attributes(s).get("order.id") == order_id
    ]
    assert producer.context.trace_id == request.context.trace_id
    assert consumer.context.trace_id == request.context.trace_id
    attributes = _attributes(consumer)
    assert attributes["messaging.system"] == "rabbitmq"
    assert attributes["messaging.destination.name"] == "alexandrite.events:order.submitted"
    assert attributes["messaging.operation.type"] == "process"
    assert attributes["messaging.message.id"]
    assert _attributes(request)["http.request.method"] == "POST"
    assert _attributes(request)["http.response.status_code"] == 202


@pytest.mark.xfail(
    reason="open bug: in a long in-process session the file storage's spans of an upload can "
    "finish late and carry the previous order's id (seen only in the full suite; see the note)",
    strict=False,
)
async def test_order_id_reaches_every_span_of_the_order_through_baggage(
    platform: Platform, spans: InMemorySpanExporter
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        order_id = await place_order(client, platform)
        await submit(client, platform, order_id)
        await wait_for_crm_status(client, platform, order_id, "in_review")

    async def crm_database_spans() -> list[ReadableSpan] | None:
        # The CRM's statements are folded into its consumer span (db.statement_count).
        found = [
            s for s in _of_order(spans, order_id)
            if s.kind is SpanKind.CONSUMER
            and _attributes(s).get("messaging.rabbitmq.destination.routing_key")
            == "order.submitted"
            and int(str(_attributes(s).get("db.statement_count", 0))) > 0
        ]
        return found or None

    # Database spans in the CRM never name the order: only baggage can have put it there.
    await eventually(crm_database_spans, what="CRM database spans carrying order.id")
    wanted = {"files.upload", "files.model.analysis", "crm.price_quote"}

    async def business_spans() -> set[str] | None:
        names = {s.name for s in _of_order(spans, order_id)}
        return names if wanted <= names else None

    await eventually(business_spans, what=f"{wanted} carrying the order's id")
    changes = [
        dict(event.attributes or {})
        for s in _of_order(spans, order_id)
        for event in s.events
        if event.name == "order.status_changed"
    ]
    transitions = {(c["order.status.from"], c["order.status.to"]) for c in changes}
    assert ("", "created") in transitions
    assert ("created", "submitted") in transitions
    assert any(to == "in_review" for _, to in transitions)


async def test_an_error_answer_puts_its_problem_on_the_server_span(
    platform: Platform, spans: InMemorySpanExporter
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{platform.shop.url}/api/v1/orders",
            json={"customer": {"name": "A", "email": "a@example.com"}, "material": "gold",
                  "quantity": 1},
        )
    assert response.status_code == 400

    async def server_span() -> ReadableSpan | None:
        for span in spans.get_finished_spans():
            if span.kind is SpanKind.SERVER and _attributes(span).get(
                "http.response.status_code"
            ) == 400:
                return span
        return None

    span = await eventually(server_span, what="the 400 server span")
    (problem,) = [e for e in span.events if e.name == "http.problem"]
    assert "unknown material" in str(dict(problem.attributes or {})["problem.body"])
    assert _attributes(span)["error.type"] == (
        "https://alexandrite.example/problems/invalid-input"
    )
    assert int(str(_attributes(span)["http.response.body.size"])) == len(response.content)


def platform_db(platform: Platform, service: str) -> str:
    return f"alexandrite_{service}_test"
