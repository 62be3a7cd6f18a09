"""The CRM API in-process against the real PostgreSQL, RabbitMQ and file storage.

Orders enter as ``order.submitted`` events published into ``alexandrite.events``; the CRM
re-reads each model from the real file storage (in-process, the sample models uploaded) over
HTTP, prices it and (the auto-approval policy is on, with a limit of 100 EUR) decides it. What it
publishes is watched on a temporary queue. Each test makes its own order ids, so tests never
depend on each other. The CRM has a database and a RabbitMQ virtual host of its own here: no
other service (of a platform running at the same time, or of the other integration tests)
consumes what it publishes or publishes to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import aio_pika
import httpx
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from alexandrite.common import platform
from alexandrite.common.messaging.event import Event
from alexandrite.common.messaging.topology import EVENTS_EXCHANGE
from alexandrite.common.settings import TelemetrySettings
from alexandrite.common.telemetry import internal_calls
from alexandrite.crm.app import create_app
from alexandrite.crm.settings import Settings
from alexandrite.crm.store import Review
from alexandrite.files.app import create_app as create_files
from alexandrite.files.samples import SampleKind, sample_bytes
from alexandrite.files.settings import Settings as FilesSettings
from alexandrite.ops.scratch_database import fresh_database
from tests.support.infra import free_port
from tests.support.servers import RunningService, serve_in_process

pytestmark = pytest.mark.integration

T = TypeVar("T")

VHOST = "alexandrite-test-crm"
SOURCE = "crm-api-test"
DEADLINE_S = 20.0

CUSTOMER = {"name": "Grace Hopper", "email": "grace.hopper@example.org", "phone": "+1 555 0100"}
# The 20 mm cube is 8 cm³: 8 × 0.08 + 5 = 5.64 EUR of PLA, under the limit; 200 of them cost
# 133.00 EUR, above it, so such an order waits for a manager.
SMALL_PRICE = Decimal("5.64")
LARGE_QUANTITY, LARGE_PRICE = 200, Decimal("133.00")


class Storage:
    """The real file storage on a fixed port, which a test can stop and start again."""

    def __init__(self, settings: FilesSettings) -> None:
        self.settings = settings
        self.url = f"http://127.0.0.1:{settings.port}"
        self._running: contextlib.AbstractAsyncContextManager[RunningService] | None = None

    async def start(self) -> None:
        # Tracing off here: the CRM's spans are the ones under test.
        app = create_files(self.settings, TelemetrySettings(enabled=False))
        self._running = serve_in_process("files", app, self.settings.port)
        await self._running.__aenter__()

    async def stop(self) -> None:
        if self._running is not None:
            running, self._running = self._running, None
            await running.__aexit__(None, None, None)

    async def upload(self, kind: SampleKind) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.post(
                "/api/v1/models", files={"file": (kind.value, sample_bytes(kind))}, timeout=60
            )
        assert response.status_code == 201, response.text
        model: dict[str, Any] = response.json()
        return model


@dataclass
class Observed:
    """Events seen on a temporary queue bound to the events exchange."""

    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of(self, order_id: uuid.UUID, routing_key: str | None = None) -> list[dict[str, Any]]:
        return [
            body["data"]
            for key, body in self.messages
            if body.get("order_id") == str(order_id)
            and body.get("source") == SOURCE
            and (routing_key is None or key == routing_key)
        ]


@dataclass
class Crm:
    app: FastAPI
    client: httpx.AsyncClient
    connection: AbstractRobustConnection
    observed: Observed
    spans: InMemorySpanExporter
    storage: Storage
    cube: dict[str, Any]
    open_cup: dict[str, Any]

    async def publish(self, event: Event) -> None:
        channel = await self.connection.channel()
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        message = aio_pika.Message(
            body=event.body(),
            message_id=str(event.id),
            type=event.routing_key,
            app_id=event.source,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await exchange.publish(message, routing_key=event.routing_key)
        await channel.close()

    async def review(self, order_id: uuid.UUID) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/orders/{order_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def review_reaches(self, order_id: uuid.UUID, status: str) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            response = await self.client.get(f"/api/v1/orders/{order_id}")
            if response.status_code == 200 and response.json()["status"] == status:
                body: dict[str, Any] = response.json()
                return body
            return None

        return await eventually(reached, f"order {order_id} reaches {status}")

    def span_of(self, order_id: uuid.UUID, name: str) -> ReadableSpan:
        return next(
            span
            for span in self.finished(name)
            if attributes(span).get("order.id") == str(order_id)
        )

    def finished(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans.get_finished_spans() if span.name == name]

    async def processed(self, event: Event, event_name: str | None = None) -> ReadableSpan:
        """The consumer's span of this message once it is over (with ``event_name`` in it)."""

        async def done() -> ReadableSpan | None:
            for span in self.finished(f"process {event.routing_key}"):
                if attributes(span).get("messaging.message.id") != str(event.id):
                    continue
                if event_name is None or any(e.name == event_name for e in span.events):
                    return span
            return None

        return await eventually(done, f"{event.routing_key} {event.id} processed")


def attributes(span: ReadableSpan) -> Mapping[str, Any]:
    return span.attributes or {}


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        value = await probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.05)


def submitted(model: dict[str, Any], material: str = "PLA", quantity: int = 1) -> Event:
    order_id = uuid.uuid4()
    return Event(
        routing_key="order.submitted",
        source="shop-api",
        order_id=order_id,
        data={
            "order_id": str(order_id),
            "material": material,
            "quantity": quantity,
            "notes": "please print it blue",
            "customer": CUSTOMER,
            "model_id": model["id"],
            "model": {
                key: model.get(key) for key in ("sha256", "size_bytes", "format", "analysis")
            },
        },
    )


def about(order_id: uuid.UUID, routing_key: str, **data: Any) -> Event:
    source = "mes-api" if routing_key.startswith("production.") else "shop-api"
    return Event(
        routing_key=routing_key,
        source=source,
        order_id=order_id,
        data={"order_id": str(order_id), **data},
    )


@contextlib.contextmanager
def recording_spans(app: FastAPI) -> Iterator[InMemorySpanExporter]:
    """Record the app's spans (its own provider, and the global one the CRM's tracer uses)."""
    exporter = InMemorySpanExporter()
    providers: list[TracerProvider] = []
    for provider in (app.state.runtime.telemetry.provider, trace.get_tracer_provider()):
        if isinstance(provider, TracerProvider) and provider not in providers:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            providers.append(provider)
    assert providers, "no SDK tracer provider to record from"
    yield exporter
    exporter.shutdown()


@pytest_asyncio.fixture(scope="module")
async def crm(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Crm]:
    amqp_url = await asyncio.to_thread(fresh_vhost, VHOST)
    common: dict[str, Any] = {"amqp_url": amqp_url, "outbox_poll_interval_s": 0.2}
    storage = Storage(
        FilesSettings(
            port=free_port(),
            database_url=await fresh_database("files", "crmtest"),
            storage_dir=tmp_path_factory.mktemp("models"),
            analysis_workers=1,
            **common,
        )
    )
    settings = Settings(
        service_name=SOURCE,
        database_url=await fresh_database("crm", "apitest"),
        files_url=storage.url,
        auto_approve=True,
        auto_approve_max_price=Decimal("100"),
        # Enough quick attempts to outlast a restart of the file storage.
        consumer_retry_delays_ms=[100, 300, 1000],
        consumer_max_attempts=15,
        **common,
    )
    # Spans go nowhere (no Collector in these tests) but are recorded in memory below.
    telemetry = TelemetrySettings(
        enabled=True, insecure=True, endpoint="http://127.0.0.1:9", export_timeout_ms=100
    )
    # Built first, so that its tracer provider is the process's global one.
    app = create_app(settings, telemetry)
    await storage.start()
    cube = await storage.upload(SampleKind.CUBE_STL)
    open_cup = await storage.upload(SampleKind.OPEN_CUP_STL)
    assert cube["analysis"]["volume_cm3"] == pytest.approx(8.0)
    assert open_cup["analysis"]["watertight"] is False
    connection = await aio_pika.connect_robust(amqp_url)
    observed = Observed()
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )
    watch = await channel.declare_queue(exclusive=True, auto_delete=True)
    for key in ("order.in_review", "order.approved", "order.rejected"):
        await watch.bind(exchange, routing_key=key)

    async def on_message(message: AbstractIncomingMessage) -> None:
        async with message.process():
            observed.messages.append((message.routing_key or "", json.loads(message.body)))

    await watch.consume(on_message)
    try:
        async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
            runtime = app.state.runtime
            assert await runtime.broker.wait_connected(DEADLINE_S), "the CRM did not reach RabbitMQ"
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://crm") as client:
                with recording_spans(app) as spans:
                    yield Crm(app, client, connection, observed, spans, storage, cube, open_cup)
    finally:
        await connection.close()
        await storage.stop()


def fresh_vhost(name: str) -> str:
    """Delete and recreate a RabbitMQ virtual host that guest may use; its AMQP URL."""
    for command in (
        ["rabbitmqctl", "-q", "delete_vhost", name],
        ["rabbitmqctl", "-q", "add_vhost", name],
        ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
    ):
        subprocess.run(command, check=command[2] != "delete_vhost", capture_output=True)
    return f"amqp://guest:guest@{platform.HOST}:{platform.RABBITMQ.port}/{name}"


def spans_hold_no_personal_data(spans: list[ReadableSpan]) -> None:
    for span in spans:
        values = [str(v) for v in (span.attributes or {}).values()]
        for event in span.events:
            values += [str(v) for v in (event.attributes or {}).values()]
        for value in values:
            for personal in CUSTOMER.values():
                assert personal not in value, f"{personal!r} in span {span.name}"


async def test_a_submitted_order_is_priced_and_approved_by_the_policy(crm: Crm) -> None:
    event = submitted(crm.cube)
    order_id = event.order_id
    assert order_id is not None
    await crm.publish(event)

    review = await crm.review_reaches(order_id, "approved")

    assert Decimal(review["price"]) == SMALL_PRICE
    assert review["currency"] == "EUR"
    assert review["decided_by"] == "auto-approval"
    assert review["volume_cm3"] == crm.cube["analysis"]["volume_cm3"]
    assert review["model_sha256"] == crm.cube["sha256"]
    assert review["watertight"] is True
    assert [entry["status"] for entry in review["history"]] == ["in_review", "approved"]
    await eventually(
        lambda: _some(crm.observed.of(order_id, "order.approved")), "order.approved is published"
    )
    # The order id travels in the envelope (observed.of matches it there), not in the data.
    assert crm.observed.of(order_id, "order.in_review") == [{}]
    assert crm.observed.of(order_id, "order.approved") == [
        {
            "price": str(SMALL_PRICE),
            "currency": "EUR",
            "material": "PLA",
            "quantity": 1,
            "model_id": crm.cube["id"],
            "model_sha256": crm.cube["sha256"],
            "volume_cm3": crm.cube["analysis"]["volume_cm3"],
        }
    ]

    listed = (await crm.client.get("/api/v1/orders", params={"status": "approved"})).json()
    line = next(item for item in listed if item["id"] == str(order_id))
    assert set(line) == {
        "id",
        "status",
        "price",
        "currency",
        "material",
        "quantity",
        "model_id",
        "volume_cm3",
        "created_at",
    }

    quote = crm.span_of(order_id, "crm.price_quote")
    assert attributes(quote)["model.id"] == crm.cube["id"]
    assert attributes(quote)["model.volume_cm3"] == crm.cube["analysis"]["volume_cm3"]
    assert attributes(quote)["order.material"] == "PLA"
    assert attributes(quote)["price.amount"] == float(SMALL_PRICE)
    assert attributes(quote)["price.currency"] == "EUR"
    decision = crm.span_of(order_id, "crm.review_decision")
    assert attributes(decision)["review.decision"] == "approved"
    assert attributes(decision)["review.decided_by"] == "auto-approval"
    # The model was re-read from the storage over HTTP, inside the order's trace: a successful
    # call between our services is folded into the span it ran in (no client span of its own).
    lookups = [
        s
        for s in crm.spans.get_finished_spans()
        if attributes(s).get("order.id") == str(order_id)
        and int(str(attributes(s).get(internal_calls.CALL_COUNT, 0))) == 1
        and float(str(attributes(s).get(internal_calls.TOTAL_DURATION_MS, 0))) > 0
    ]
    assert lookups, "the storage lookup was not folded into the span it ran in"
    assert lookups[0].context is not None and quote.context is not None
    assert lookups[0].context.trace_id == quote.context.trace_id
    assert not [
        s
        for s in crm.spans.get_finished_spans()
        if s.kind is trace.SpanKind.CLIENT and attributes(s).get("order.id") == str(order_id)
    ], "a successful lookup still made a client span"
    spans_hold_no_personal_data(list(crm.spans.get_finished_spans()))


async def _some(items: list[Any]) -> list[Any] | None:
    return items or None


async def test_the_same_message_delivered_twice_has_one_effect(crm: Crm) -> None:
    event = submitted(crm.cube)
    order_id = event.order_id
    assert order_id is not None

    await crm.publish(event)
    await crm.publish(event)
    await crm.processed(event, "message.duplicate")
    review = await crm.review_reaches(order_id, "approved")

    assert [entry["status"] for entry in review["history"]] == ["in_review", "approved"]
    await eventually(
        lambda: _some(crm.observed.of(order_id, "order.approved")), "order.approved is published"
    )
    assert len(crm.observed.of(order_id, "order.in_review")) == 1
    assert len(crm.observed.of(order_id, "order.approved")) == 1
    async with crm.app.state.runtime.units_of_work() as uow:
        assert await uow.session.get(Review, order_id) is not None


async def test_a_model_that_is_not_watertight_is_rejected_by_the_policy(crm: Crm) -> None:
    event = submitted(crm.open_cup)
    order_id = event.order_id
    assert order_id is not None
    await crm.publish(event)

    review = await crm.review_reaches(order_id, "rejected")

    reason = "the model is not watertight, so it cannot be printed as a solid"
    assert review["reason"] == reason
    assert review["price"] is None
    await eventually(
        lambda: _some(crm.observed.of(order_id, "order.rejected")), "order.rejected is published"
    )
    assert crm.observed.of(order_id, "order.rejected") == [{"reason": reason}]


async def test_a_storage_that_is_down_gets_the_message_retried(crm: Crm) -> None:
    event = submitted(crm.cube)
    order_id = event.order_id
    assert order_id is not None
    await crm.storage.stop()
    try:
        await crm.publish(event)
        retried = await crm.processed(event, "message.retry_scheduled")
    finally:
        await crm.storage.start()

    assert retried.status.status_code is trace.StatusCode.ERROR
    review = await crm.review_reaches(order_id, "approved")
    assert Decimal(review["price"]) == SMALL_PRICE
    assert [entry["status"] for entry in review["history"]] == ["in_review", "approved"]


async def test_an_unknown_model_leaves_no_price_and_the_policy_rejects(crm: Crm) -> None:
    event = submitted({**crm.cube, "id": str(uuid.uuid4())})
    assert event.order_id is not None
    await crm.publish(event)
    review = await crm.review_reaches(event.order_id, "rejected")
    assert "has no model" in review["reason"]


async def submitted_for_a_manager(crm: Crm) -> uuid.UUID:
    event = submitted(crm.cube, quantity=LARGE_QUANTITY)
    assert event.order_id is not None
    await crm.publish(event)
    await crm.review_reaches(event.order_id, "in_review")
    return event.order_id


async def test_an_order_above_the_limit_waits_for_a_manager_and_is_approved_at_the_quote(
    crm: Crm,
) -> None:
    order_id = await submitted_for_a_manager(crm)
    review = await crm.review(order_id)
    assert Decimal(review["price"]) == LARGE_PRICE
    assert review["decided_by"] is None

    response = await crm.client.post(f"/api/v1/orders/{order_id}/approve")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"
    assert Decimal(response.json()["price"]) == LARGE_PRICE
    assert response.json()["decided_by"] == "manager"
    await eventually(
        lambda: _some(crm.observed.of(order_id, "order.approved")), "order.approved is published"
    )
    assert crm.observed.of(order_id, "order.approved")[0]["price"] == str(LARGE_PRICE)
    listed = (
        await crm.client.get("/api/v1/orders", params={"status": "approved", "limit": 1000})
    ).json()
    assert str(order_id) in {item["id"] for item in listed}


async def test_a_manager_approves_at_an_explicit_price(crm: Crm) -> None:
    order_id = await submitted_for_a_manager(crm)

    response = await crm.client.post(
        f"/api/v1/orders/{order_id}/approve", json={"price": "120.50", "manager": "Ada"}
    )

    assert response.status_code == 200, response.text
    assert Decimal(response.json()["price"]) == Decimal("120.50")
    assert response.json()["decided_by"] == "Ada"
    await eventually(
        lambda: _some(crm.observed.of(order_id, "order.approved")), "order.approved is published"
    )
    assert crm.observed.of(order_id, "order.approved")[0]["price"] == "120.50"


@pytest.mark.parametrize("price", ["0", "-3", "1.234", "abc"])
async def test_a_price_that_is_not_money_is_refused(crm: Crm, price: str) -> None:
    order_id = await submitted_for_a_manager(crm)
    response = await crm.client.post(f"/api/v1/orders/{order_id}/approve", json={"price": price})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await crm.review(order_id))["status"] == "in_review"


async def test_a_manager_rejects_with_a_reason(crm: Crm) -> None:
    order_id = await submitted_for_a_manager(crm)

    response = await crm.client.post(
        f"/api/v1/orders/{order_id}/reject", json={"reason": "too large for our printers"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    assert response.json()["reason"] == "too large for our printers"
    await eventually(
        lambda: _some(crm.observed.of(order_id, "order.rejected")), "order.rejected is published"
    )
    assert crm.observed.of(order_id, "order.rejected") == [{"reason": "too large for our printers"}]


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, None])
async def test_a_rejection_needs_a_reason(crm: Crm, body: dict[str, str] | None) -> None:
    order_id = await submitted_for_a_manager(crm)
    response = await crm.client.post(f"/api/v1/orders/{order_id}/reject", json=body)
    assert response.status_code == 422
    assert (await crm.review(order_id))["status"] == "in_review"


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("approve", {"manager": "Ada\x00"}),
        ("reject", {"reason": "too\x00large"}),
        ("reject", {"reason": "too large", "manager": "\x00"}),
    ],
)
async def test_a_decision_with_a_nul_character_is_refused_not_a_server_error(
    crm: Crm, action: str, body: dict[str, str]
) -> None:
    # PostgreSQL cannot store U+0000: it used to fail at commit as a 500 (found by fuzzing).
    order_id = await submitted_for_a_manager(crm)
    response = await crm.client.post(f"/api/v1/orders/{order_id}/{action}", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await crm.review(order_id))["status"] == "in_review"


async def test_a_decided_order_cannot_be_decided_again(crm: Crm) -> None:
    order_id = await submitted_for_a_manager(crm)
    assert (await crm.client.post(f"/api/v1/orders/{order_id}/approve")).status_code == 200

    again = await crm.client.post(f"/api/v1/orders/{order_id}/approve")
    reject = await crm.client.post(f"/api/v1/orders/{order_id}/reject", json={"reason": "no"})

    assert again.status_code == 409
    assert reject.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    await eventually(
        lambda: _some(crm.observed.of(order_id, "order.approved")), "order.approved is published"
    )
    assert len(crm.observed.of(order_id, "order.approved")) == 1


async def test_an_order_the_crm_does_not_know_is_not_found(crm: Crm) -> None:
    unknown = uuid.uuid4()
    assert (await crm.client.get(f"/api/v1/orders/{unknown}")).status_code == 404
    assert (await crm.client.post(f"/api/v1/orders/{unknown}/approve")).status_code == 404
    response = await crm.client.post(f"/api/v1/orders/{unknown}/reject", json={"reason": "x"})
    assert response.status_code == 404
    assert (await crm.client.get("/api/v1/orders/not-a-uuid")).status_code == 422


async def test_an_order_without_a_quote_needs_an_explicit_price(crm: Crm) -> None:
    # The policy rejects such orders itself, so this review is put in place directly.
    order_id = await submitted_for_a_manager(crm)
    async with crm.app.state.runtime.units_of_work() as uow:
        review = await uow.session.get(Review, order_id)
        assert review is not None
        review.price, review.volume_cm3, review.watertight = None, None, False
        await uow.commit()

    refused = await crm.client.post(f"/api/v1/orders/{order_id}/approve")
    assert refused.status_code == 422
    assert "not watertight" in refused.json()["detail"]

    approved = await crm.client.post(f"/api/v1/orders/{order_id}/approve", json={"price": "42"})
    assert approved.status_code == 200
    assert Decimal(approved.json()["price"]) == Decimal("42.00")


async def test_the_list_filters_by_status_and_refuses_unknown_ones(crm: Crm) -> None:
    order_id = await submitted_for_a_manager(crm)
    waiting = (
        await crm.client.get("/api/v1/orders", params={"status": "in_review", "limit": 1000})
    ).json()
    assert str(order_id) in {item["id"] for item in waiting}
    assert {item["status"] for item in waiting} == {"in_review"}
    assert (await crm.client.get("/api/v1/orders", params={"status": "lost"})).status_code == 422
    assert (await crm.client.get("/api/v1/orders", params={"limit": 0})).status_code == 422
    assert len((await crm.client.get("/api/v1/orders", params={"limit": 1})).json()) == 1


async def test_a_complaint_about_a_known_order_is_recorded(crm: Crm) -> None:
    order_id = await submitted_for_a_manager(crm)

    response = await crm.client.post(
        "/api/v1/complaints", json={"order_id": str(order_id), "text": "it is late"}
    )

    assert response.status_code == 201, response.text
    complaint = response.json()
    assert complaint["status"] == "open"
    listed = await crm.client.get("/api/v1/complaints", params={"order_id": str(order_id)})
    assert listed.json() == [complaint]


async def test_a_complaint_about_an_unknown_order_is_not_found(crm: Crm) -> None:
    response = await crm.client.post(
        "/api/v1/complaints", json={"order_id": str(uuid.uuid4()), "text": "where is it?"}
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "body", [{"order_id": "nope", "text": "x"}, {"text": "x"}, {"order_id": None, "text": ""}]
)
async def test_a_complaint_that_is_not_well_formed_is_refused(
    crm: Crm, body: dict[str, Any]
) -> None:
    assert (await crm.client.post("/api/v1/complaints", json=body)).status_code == 422


@pytest.mark.parametrize("text", ["late\x00", "\ud800 late"])
async def test_a_complaint_that_postgresql_cannot_store_is_refused_not_a_server_error(
    crm: Crm, text: str
) -> None:
    # A NUL or a lone surrogate (valid JSON escapes) used to fail at commit as a 500.
    order_id = await submitted_for_a_manager(crm)
    body = json.dumps({"order_id": str(order_id), "text": text})
    response = await crm.client.post(
        "/api/v1/complaints", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    listed = await crm.client.get("/api/v1/complaints", params={"order_id": str(order_id)})
    assert listed.json() == []


async def test_production_is_mirrored_and_never_goes_backwards(crm: Crm) -> None:
    event = submitted(crm.cube)
    order_id = event.order_id
    assert order_id is not None
    await crm.publish(event)
    await crm.review_reaches(order_id, "approved")
    job = str(uuid.uuid4())

    await crm.publish(about(order_id, "production.queued", job_id=job))
    await crm.review_reaches(order_id, "queued")
    await crm.publish(about(order_id, "production.started", job_id=job, printer="p1"))
    await crm.review_reaches(order_id, "in_production")
    late = about(order_id, "production.queued", job_id=job)
    await crm.publish(late)
    await crm.processed(late, "order.status_stale")
    assert (await crm.review(order_id))["status"] == "in_production"

    await crm.publish(about(order_id, "production.completed", job_id=job, printer="p1"))
    review = await crm.review_reaches(order_id, "completed")
    cancel = about(order_id, "order.cancelled", reason="changed my mind")
    await crm.publish(cancel)
    await crm.processed(cancel)

    review = await crm.review(order_id)
    assert review["status"] == "completed"
    assert [entry["status"] for entry in review["history"]] == [
        "in_review",
        "approved",
        "queued",
        "in_production",
        "completed",
    ]


async def test_a_failed_job_fails_the_order_with_its_reason(crm: Crm) -> None:
    event = submitted(crm.cube)
    assert event.order_id is not None
    await crm.publish(event)
    await crm.review_reaches(event.order_id, "approved")
    job_id = str(uuid.uuid4())
    failed = about(event.order_id, "production.failed", job_id=job_id, reason="nozzle jam")
    await crm.publish(failed)
    review = await crm.review_reaches(event.order_id, "failed")
    assert review["history"][-1]["reason"] == "nozzle jam"


async def test_a_cancelled_order_can_no_longer_be_approved(crm: Crm) -> None:
    order_id = await submitted_for_a_manager(crm)

    await crm.publish(about(order_id, "order.cancelled", reason="changed my mind"))
    review = await crm.review_reaches(order_id, "cancelled")

    assert review["reason"] == "changed my mind"
    assert (await crm.client.post(f"/api/v1/orders/{order_id}/approve")).status_code == 409


async def test_a_cancellation_that_overtakes_the_submission_wins(crm: Crm) -> None:
    event = submitted(crm.cube)
    order_id = event.order_id
    assert order_id is not None
    cancel = about(order_id, "order.cancelled", reason="changed my mind")
    await crm.publish(cancel)
    await crm.processed(cancel)

    await crm.publish(event)
    await crm.processed(event)

    review = await crm.review(order_id)
    assert review["status"] == "cancelled"
    assert crm.observed.of(order_id) == []
