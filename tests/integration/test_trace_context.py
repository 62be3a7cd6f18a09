"""The tracing contract inside the platform (DESIGN.md §3), read from the spans the real code
produced: context crosses HTTP and RabbitMQ (through the outbox), order.id is on every span that
concerns the order, and every status change is an event."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from alexandrite.common.telemetry.internal_credential import INTERNAL_CREDENTIAL_HEADER
from alexandrite.files.samples import SampleKind, sample_bytes
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
            s
            for s in _of_order(spans, order_id)
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
            json={
                "customer": {"name": "A", "email": "a@example.com"},
                "material": "gold",
                "quantity": 1,
            },
        )
    assert response.status_code == 400

    async def server_span() -> ReadableSpan | None:
        for span in spans.get_finished_spans():
            if (
                span.kind is SpanKind.SERVER
                and _attributes(span).get("http.response.status_code") == 400
            ):
                return span
        return None

    span = await eventually(server_span, what="the 400 server span")
    (problem,) = [e for e in span.events if e.name == "http.problem"]
    assert "unknown material" in str(dict(problem.attributes or {})["problem.body"])
    assert _attributes(span)["error.type"] == ("https://alexandrite.example/problems/invalid-input")
    assert int(str(_attributes(span)["http.response.body.size"])) == len(response.content)


def platform_db(platform: Platform, service: str) -> str:
    return f"alexandrite_{service}_test"


# --- The trust boundary (DESIGN.md §3, docs/tracing.md): what a stranger's headers can do ---

_FORGED_PARENT_SPAN = "00f067aa0ba902b7"


def _trace_id(span: ReadableSpan) -> str:
    return format(span.context.trace_id, "032x")


def _internal_token() -> str:
    # The session's token (tests/conftest.py), the one the in-process services were given.
    return Path(os.environ["ALEXANDRITE_TELEMETRY_INTERNAL_TOKEN_FILE"]).read_text().strip()


async def _send_as_is(
    client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """A request whose headers reach the service exactly as written: without this the test's
    own (instrumented) client would replace a forged traceparent by its own."""
    with suppress_instrumentation():
        return await client.request(method, url, **kwargs)


async def _server_spans(
    spans: InMemorySpanExporter, wanted: list[tuple[str, int]], what: str
) -> list[ReadableSpan]:
    """Wait for a finished server span of each (route, status) wanted; the first of each."""

    def first(route: str, status: int) -> ReadableSpan | None:
        for span in spans.get_finished_spans():
            attributes = _attributes(span)
            if (
                span.kind is SpanKind.SERVER
                and attributes.get("http.route") == route
                and attributes.get("http.response.status_code") == status
            ):
                return span
        return None

    async def found() -> list[ReadableSpan] | None:
        matches = [first(route, status) for route, status in wanted]
        return [m for m in matches if m is not None] if all(matches) else None

    try:
        return await eventually(found, what=what)
    except AssertionError as exc:
        seen = [
            (_attributes(s).get("http.route"), _attributes(s).get("http.response.status_code"))
            for s in spans.get_finished_spans()
            if s.kind is SpanKind.SERVER
        ]
        raise AssertionError(f"{exc}; server spans seen: {seen}") from None


async def _victim(
    client: httpx.AsyncClient, platform: Platform, spans: InMemorySpanExporter
) -> tuple[str, str]:
    """An order and the trace of its creation; the exporter is cleared after it, so every span
    that names it afterwards was made by what the test does next."""
    created = await client.post(
        f"{platform.shop.url}/api/v1/orders",
        json={
            "customer": {"name": "Vic Tim", "email": "v@example.com"},
            "material": "PLA",
            "quantity": 1,
        },
    )
    assert created.status_code == 201, created.text
    order_id = str(created.json()["id"])
    (creation,) = await _server_spans(spans, [("/api/v1/orders", 201)], "the victim's creation")
    assert _attributes(creation)["order.id"] == order_id
    spans.clear()
    return order_id, _trace_id(creation)


async def test_a_strangers_baggage_and_traceparent_plant_no_span_in_another_orders_story(
    platform: Platform, spans: InMemorySpanExporter
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        victim, victim_trace = await _victim(client, platform, spans)
        forged = {
            "traceparent": f"00-{victim_trace}-{_FORGED_PARENT_SPAN}-01",
            "baggage": f"order.id={victim}",
        }
        order = {
            "customer": {"name": "Mallory", "email": "m@example.com"},
            "material": "PLA",
            "quantity": 1,
        }
        created = await _send_as_is(
            client, "POST", f"{platform.shop.url}/api/v1/orders", json=order, headers=forged
        )
        assert created.status_code == 201, created.text
        refused = await _send_as_is(
            client,
            "POST",
            f"{platform.shop.url}/api/v1/orders",
            json={**order, "quantity": "lots"},
            headers=forged,
        )
        assert refused.status_code == 422, refused.text
        missing = await _send_as_is(
            client, "GET", f"{platform.files.url}/api/v1/models/{uuid.uuid4()}", headers=forged
        )
        assert missing.status_code == 404
        listed = await _send_as_is(
            client, "GET", f"{platform.crm.url}/api/v1/orders", headers=forged
        )
        assert listed.status_code == 200
    attack = await _server_spans(
        spans,
        [
            ("/api/v1/orders", 201),
            ("/api/v1/orders", 422),
            ("/api/v1/models/{model_id}", 404),
            ("/api/v1/orders", 200),
        ],
        "the attacker's server spans",
    )
    finished = spans.get_finished_spans()
    assert [s.name for s in finished if _attributes(s).get("order.id") == victim] == []
    assert [s.name for s in finished if _trace_id(s) == victim_trace] == []
    for span in attack:
        (link,) = span.links
        assert format(link.context.trace_id, "032x") == victim_trace
        assert dict(link.attributes or {}) == {"alexandrite.link.untrusted": True}
    # The request refused with 422 names no order at all.
    assert "order.id" not in _attributes(attack[1])


async def test_our_own_services_calls_keep_their_trace_and_order_id(
    platform: Platform, spans: InMemorySpanExporter
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        order_id, _ = await _victim(client, platform, spans)
        caller_trace = format(uuid.uuid4().int, "032x")
        response = await _send_as_is(
            client,
            "GET",
            f"{platform.files.url}/api/v1/models/{uuid.uuid4()}",
            headers={
                "traceparent": f"00-{caller_trace}-{_FORGED_PARENT_SPAN}-01",
                "baggage": f"order.id={order_id}",
                INTERNAL_CREDENTIAL_HEADER: _internal_token(),
            },
        )
        assert response.status_code == 404
        (span,) = await _server_spans(
            spans, [("/api/v1/models/{model_id}", 404)], "the internal call's server span"
        )
        assert _trace_id(span) == caller_trace
        assert format(span.parent.span_id, "016x") == _FORGED_PARENT_SPAN  # type: ignore[union-attr]
        assert _attributes(span)["order.id"] == order_id
        assert not span.links
        # And through the real client: the Shop's upload reaches the file storage in its trace.
        spans.clear()
        uploaded = await client.post(
            f"{platform.shop.url}/api/v1/orders/{order_id}/model",
            files={"file": ("cube.stl", sample_bytes(SampleKind.CUBE_STL), "application/sla")},
        )
        assert uploaded.status_code == 201, uploaded.text
    shop_span, files_span = await _server_spans(
        spans,
        [("/api/v1/orders/{order_id}/model", 201), ("/api/v1/models", 201)],
        "the upload's server spans in the Shop and the file storage",
    )
    assert _trace_id(files_span) == _trace_id(shop_span)
    assert _attributes(files_span)["order.id"] == order_id


async def test_oversized_baggage_is_ignored_even_from_our_own_services(
    platform: Platform, spans: InMemorySpanExporter
) -> None:
    order_id = str(uuid.uuid4())
    url = f"{platform.files.url}/api/v1/models/{uuid.uuid4()}"
    token = {INTERNAL_CREDENTIAL_HEADER: _internal_token()}
    many = ",".join(f"k{index}=v" for index in range(20))
    async with httpx.AsyncClient(timeout=30) as client:
        for baggage in (f"order.id={order_id},{many}", f"order.id={order_id};p={'x' * 2000}"):
            response = await _send_as_is(client, "GET", url, headers={"baggage": baggage, **token})
            assert response.status_code == 404
        # The same id in baggage of a sane size is taken: the two above could have been.
        await _send_as_is(client, "GET", url, headers={"baggage": f"order.id={order_id}", **token})

    async def three() -> list[ReadableSpan] | None:
        found = [
            s
            for s in spans.get_finished_spans()
            if s.kind is SpanKind.SERVER
            and _attributes(s).get("http.route") == ("/api/v1/models/{model_id}")
        ]
        return found if len(found) == 3 else None

    oversized, too_long, sane = sorted(
        await eventually(three, what="3 spans"), key=lambda s: s.start_time or 0
    )
    for ignored in (oversized, too_long):
        assert "order.id" not in _attributes(ignored)
        assert "alexandrite.baggage.ignored" in _attributes(ignored)
    assert _attributes(sane)["order.id"] == order_id


async def test_markup_in_an_order_id_is_never_stored_as_a_tag(
    platform: Platform, spans: InMemorySpanExporter
) -> None:
    markup = "<img src=x onerror=alert(1)>"
    async with httpx.AsyncClient(timeout=30) as client:
        refused = await _send_as_is(
            client, "GET", f"{platform.shop.url}/api/v1/orders/{quote(markup, safe='')}"
        )
        assert refused.status_code == 422
        await _send_as_is(
            client,
            "GET",
            f"{platform.files.url}/api/v1/models/{uuid.uuid4()}",
            headers={
                "baggage": f"order.id={quote(markup, safe='')}",
                INTERNAL_CREDENTIAL_HEADER: _internal_token(),
            },
        )
    await _server_spans(
        spans,
        [("/api/v1/orders/{order_id}", 422), ("/api/v1/models/{model_id}", 404)],
        "both server spans",
    )
    tags = [str(_attributes(s).get("order.id", "")) for s in spans.get_finished_spans()]
    assert [tag for tag in tags if "<" in tag or "img" in tag] == []
