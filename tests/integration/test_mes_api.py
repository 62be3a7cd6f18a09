"""The MES in-process against real PostgreSQL, RabbitMQ and file storage: events in, jobs,
routes, events out.

Everything runs in a RabbitMQ virtual host and databases of its own (``alexandrite-test-mes``,
``alexandrite_mes_mes_test``, ``alexandrite_files_mes_test``), so these tests never touch a
platform running at the same time nor the other integration tests; every test makes its own
order ids. The file storage is the real service, in-process on a free port, and the models are
uploaded to it (trimesh-made STL samples).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from asgi_lifespan import LifespanManager
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from alexandrite.common import platform
from alexandrite.common.messaging.event import Event
from alexandrite.common.messaging.topology import EVENTS_EXCHANGE
from alexandrite.common.service import ServiceRuntime
from alexandrite.common.settings import TelemetrySettings
from alexandrite.common.telemetry.order_context import OrderBaggageSpanProcessor
from alexandrite.files.app import create_app as create_files_app
from alexandrite.files.samples import SampleKind, sample_bytes
from alexandrite.files.settings import Settings as FilesSettings
from alexandrite.mes.app import create_app
from alexandrite.mes.settings import Settings
from alexandrite.ops.scratch_database import fresh_database
from tests.support.infra import free_port
from tests.support.polling import eventually
from tests.support.servers import serve_in_process

pytestmark = pytest.mark.integration

VHOST = "alexandrite-test-mes"
AMQP_URL = f"amqp://guest:guest@{platform.HOST}:{platform.RABBITMQ.port}/{VHOST}"
DB_SUFFIX = "mes_test"
TELEMETRY_OFF = TelemetrySettings(enabled=False)

# Session resources, made once even though two test modules use these fixtures (pytest would
# otherwise build a session fixture once per module that imports it).
_shared: dict[str, Any] = {}


async def _database(service: str) -> str:
    key = f"db:{service}"
    if key not in _shared:
        _shared[key] = await fresh_database(service, DB_SUFFIX)
    url: str = _shared[key]
    return url


def _ensure_vhost(timeout: float = 90.0) -> None:
    """Our own virtual host; created when missing, never deleted under a running test.

    Waits for the broker: it may be (re)starting when the tests begin.
    """
    deadline = time.monotonic() + timeout
    while True:
        listed = subprocess.run(
            ["rabbitmqctl", "-q", "list_vhosts"], check=False, capture_output=True, text=True
        )
        if listed.returncode == 0:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"RabbitMQ does not answer rabbitmqctl: {listed.stderr[-500:]}")
        time.sleep(1)
    if VHOST not in listed.stdout.split():
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", VHOST], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="session")
async def mes_database_url() -> str:
    return await _database("mes")


@pytest.fixture(scope="session")
async def mes_db(mes_database_url: str) -> AsyncIterator[AsyncEngine]:
    if "mes_db" in _shared:
        yield _shared["mes_db"]
        return
    engine = create_async_engine(mes_database_url)
    _shared["mes_db"] = engine
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def amqp() -> AsyncIterator[AbstractRobustConnection]:
    if "amqp" in _shared:
        yield _shared["amqp"]
        return
    await asyncio.to_thread(_ensure_vhost)
    connection = await aio_pika.connect_robust(AMQP_URL)
    _shared["amqp"] = connection
    yield connection
    await connection.close()


@dataclass
class FileStorage:
    """The real file storage service, running in this test's event loop."""

    url: str

    async def put(self, content: bytes, name: str = "part.stl") -> tuple[uuid.UUID, str]:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.post("/api/v1/models", files={"file": (name, content)})
        assert response.status_code == 201, response.text
        model = response.json()
        return uuid.UUID(model["id"]), str(model["sha256"])

    async def cube(self) -> tuple[uuid.UUID, str]:
        return await self.put(sample_bytes(SampleKind.CUBE_STL))


@pytest.fixture(scope="session")
async def file_storage(
    amqp: AbstractRobustConnection, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FileStorage]:
    if "files" in _shared:
        yield _shared["files"]
        return
    port = free_port()
    settings = FilesSettings(
        port=port,
        database_url=await _database("files"),
        amqp_url=AMQP_URL,
        storage_dir=Path(tmp_path_factory.mktemp("mes-models")),
        analysis_workers=1,
        log_level="WARNING",
    )
    app = create_files_app(settings, TELEMETRY_OFF)
    async with serve_in_process("files", app, port) as running:
        storage = FileStorage(url=running.url)
        _shared["files"] = storage
        yield storage


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """Every span made in this process (the apps run with their own telemetry export off)."""
    if "spans" in _shared:
        exporter: InMemorySpanExporter = _shared["spans"]
        return exporter
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        provider.add_span_processor(OrderBaggageSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _shared["spans"] = exporter
    return exporter


def spans_named(exporter: InMemorySpanExporter, name: str, job_id: uuid.UUID) -> list[ReadableSpan]:
    return [
        span
        for span in exporter.get_finished_spans()
        if span.name == name and (span.attributes or {}).get("job.id") == str(job_id)
    ]


# --- the broker ---------------------------------------------------------------------------------


class EventLog:
    """The production.* events seen on a temporary queue bound to the events exchange."""

    def __init__(self, queue: AbstractQueue) -> None:
        self.queue = queue
        self.events: list[dict[str, Any]] = []

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        async with message.process():
            self.events.append(json.loads(message.body))

    def of(self, order_id: uuid.UUID, routing_key: str | None = None) -> list[dict[str, Any]]:
        return [
            event
            for event in self.events
            if event["order_id"] == str(order_id)
            and (routing_key is None or event["type"] == routing_key)
        ]

    async def wait_for(self, order_id: uuid.UUID, routing_key: str) -> dict[str, Any]:
        async def seen() -> list[dict[str, Any]]:
            return self.of(order_id, routing_key)

        found: list[dict[str, Any]] = await eventually(seen, what=f"{routing_key} of {order_id}")
        return found[0]


@pytest.fixture
async def production_events(amqp: AbstractRobustConnection) -> AsyncIterator[EventLog]:
    channel = await amqp.channel()
    exchange = await channel.declare_exchange(
        EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key="production.#")
    log = EventLog(queue)
    await queue.consume(log.on_message)
    yield log
    await channel.close()


async def publish(
    amqp: AbstractRobustConnection,
    routing_key: str,
    order_id: uuid.UUID,
    data: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Event:
    event = Event(
        routing_key=routing_key,
        data={"order_id": str(order_id), **data},
        source="test",
        order_id=order_id,
    )
    channel = await amqp.channel()
    try:
        exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await exchange.publish(
            aio_pika.Message(
                body=event.body(),
                message_id=str(event.id),
                type=routing_key,
                content_type="application/json",
                headers=dict(headers or {}),
            ),
            routing_key=routing_key,
        )
    finally:
        await channel.close()
    return event


def approval(model_id: uuid.UUID, sha256: str, volume_cm3: float | None = 8.0) -> dict[str, Any]:
    return {
        "price": "12.50",
        "currency": "EUR",
        "material": "PLA",
        "quantity": 1,
        "model_id": str(model_id),
        "model_sha256": sha256,
        "volume_cm3": volume_cm3,
    }


# --- the app -----------------------------------------------------------------------------------


@dataclass
class Mes:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    amqp: AbstractRobustConnection

    async def approve(
        self,
        model_id: uuid.UUID,
        sha256: str,
        order_id: uuid.UUID | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Publish order.approved and wait for its job."""
        order_id = order_id or uuid.uuid4()
        await publish(self.amqp, "order.approved", order_id, approval(model_id, sha256), headers)
        return await self.job_of(order_id)

    async def job_of(self, order_id: uuid.UUID) -> dict[str, Any]:
        async def listed() -> list[dict[str, Any]]:
            response = await self.client.get("/api/v1/jobs", params={"order_id": str(order_id)})
            assert response.status_code == 200, response.text
            jobs: list[dict[str, Any]] = response.json()
            return jobs

        jobs: list[dict[str, Any]] = await eventually(listed, what=f"the job of order {order_id}")
        assert len(jobs) == 1
        return jobs[0]

    async def job(self, job_id: str | uuid.UUID) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job


MesFactory = Callable[..., contextlib.AbstractAsyncContextManager[Mes]]


async def _delete_queues(amqp: AbstractRobustConnection, settings: Settings) -> None:
    channel = await amqp.channel()
    names = [settings.queue_name, f"{settings.queue_name}.dead"] + [
        f"{settings.queue_name}.retry.{level}"
        for level in range(1, len(settings.consumer_retry_delays_ms) + 1)
    ]
    for name in names:
        await channel.queue_delete(name)
    await channel.close()


@pytest.fixture
def mes_app(
    mes_database_url: str,
    file_storage: FileStorage,
    amqp: AbstractRobustConnection,
    spans: InMemorySpanExporter,
) -> MesFactory:
    """Build and run an MES app in-process; keyword arguments override its settings."""

    @contextlib.asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[Mes]:
        values: dict[str, Any] = {
            "database_url": mes_database_url,
            "amqp_url": AMQP_URL,
            "files_url": file_storage.url,
            "files_timeout_s": 5.0,
            "queue_name": f"mes.events.test-{uuid.uuid4().hex[:12]}",
            "outbox_poll_interval_s": 0.2,
            "consumer_retry_delays_ms": [200],
            "consumer_max_attempts": 2,
            "log_level": "WARNING",
        }
        values.update(overrides)
        settings = Settings(**values)
        app = create_app(settings, TelemetrySettings(enabled=False))
        try:
            async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
                runtime: ServiceRuntime = app.state.runtime
                assert await runtime.broker.wait_connected(30), "the MES did not reach RabbitMQ"
                transport = httpx.ASGITransport(app=manager.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://mes") as client:
                    yield Mes(client=client, runtime=runtime, amqp=amqp)

                # Stop with an idle relay: OutboxRelay.stop can hang when cancelled just as it
                # is woken (Python 3.11 wait_for swallows the cancellation; reported to the lead).
                async def outbox_drained() -> bool:
                    return await runtime.relay.pending() == 0

                await eventually(outbox_drained, what="the outbox to be drained")
        finally:
            await _delete_queues(amqp, settings)

    return running


# --- tests -------------------------------------------------------------------------------------


async def test_an_approved_order_queues_a_job_and_announces_it(
    mes_app: MesFactory, file_storage: FileStorage, production_events: EventLog
) -> None:
    model_id, sha256 = await file_storage.cube()
    async with mes_app() as mes:
        job = await mes.approve(model_id, sha256)
        assert job["status"] == "queued"
        assert job["printer"] is None and job["started_at"] is None
        assert job["model_id"] == str(model_id)
        queued = await production_events.wait_for(uuid.UUID(job["order_id"]), "production.queued")
        # The order id travels in the envelope (the contract's one place for it).
        assert queued["order_id"] == job["order_id"]
        assert queued["data"]["job_id"] == job["id"]
        assert queued["source"] == "mes-api"


async def test_a_repeated_approval_creates_one_job(
    mes_app: MesFactory, mes_db: AsyncEngine, file_storage: FileStorage
) -> None:
    model_id, sha256 = await file_storage.cube()
    order_id = uuid.uuid4()
    async with mes_app() as mes:
        # Two distinct messages (not a redelivery): the unique order id keeps one job.
        first = await publish(mes.amqp, "order.approved", order_id, approval(model_id, sha256))
        second = await publish(mes.amqp, "order.approved", order_id, approval(model_id, sha256))

        async def both_handled() -> bool:
            async with mes_db.connect() as connection:
                handled = await connection.scalar(
                    text("SELECT count(*) FROM inbox WHERE message_id IN (:a, :b)"),
                    {"a": first.id, "b": second.id},
                )
            return bool(handled == 2)

        await eventually(both_handled, what="both approvals to be consumed")
        await mes.job_of(order_id)
        async with mes_db.connect() as connection:
            jobs = await connection.scalar(
                text("SELECT count(*) FROM jobs WHERE order_id = :o"), {"o": order_id}
            )
            announced = await connection.scalar(
                text(
                    "SELECT count(*) FROM outbox "
                    "WHERE order_id = :o AND routing_key = 'production.queued'"
                ),
                {"o": order_id},
            )
        assert (jobs, announced) == (1, 1)


async def test_a_job_is_started_after_its_model_checks_out_and_then_completed(
    mes_app: MesFactory,
    file_storage: FileStorage,
    production_events: EventLog,
    spans: InMemorySpanExporter,
) -> None:
    content = sample_bytes(SampleKind.CUBE_STL)
    model_id, sha256 = await file_storage.put(content)
    async with mes_app() as mes:
        job = await mes.approve(model_id, sha256)
        order_id = uuid.UUID(job["order_id"])

        started = await mes.client.post(
            f"/api/v1/jobs/{job['id']}/start", json={"printer": "printer-3"}
        )
        assert started.status_code == 200, started.text
        assert started.json()["status"] == "in_production"
        assert started.json()["printer"] == "printer-3"
        assert started.json()["started_at"] is not None
        event = await production_events.wait_for(order_id, "production.started")
        assert event["data"]["printer"] == "printer-3"

        completed = await mes.client.post(f"/api/v1/jobs/{job['id']}/complete")
        assert completed.status_code == 200, completed.text
        assert completed.json()["status"] == "completed"
        assert completed.json()["finished_at"] is not None
        await production_events.wait_for(order_id, "production.completed")

        again = await mes.client.post(f"/api/v1/jobs/{job['id']}/complete")
        assert again.status_code == 409
        assert again.headers["content-type"].startswith("application/problem+json")

    (start_span,) = spans_named(spans, "mes.job.start", job["id"])
    attributes = dict(start_span.attributes or {})
    assert attributes["printer"] == "printer-3"
    assert attributes["model.id"] == str(model_id)
    assert attributes["model.size_bytes"] == len(content)
    assert attributes["order.id"] == str(order_id)
    assert attributes["order.status"] == "in_production"
    (complete_span,) = spans_named(spans, "mes.job.complete", job["id"])
    assert [e.name for e in complete_span.events] == ["order.status_changed"]


async def test_a_model_whose_sha256_differs_fails_the_job_with_422(
    mes_app: MesFactory,
    file_storage: FileStorage,
    production_events: EventLog,
    spans: InMemorySpanExporter,
) -> None:
    model_id, _ = await file_storage.cube()
    async with mes_app() as mes:
        job = await mes.approve(model_id, "0" * 64)
        response = await mes.client.post(f"/api/v1/jobs/{job['id']}/start")
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "sha256" in response.json()["detail"]

        failed = await mes.job(job["id"])
        assert failed["status"] == "failed"
        assert "does not match" in failed["reason"]
        event = await production_events.wait_for(uuid.UUID(job["order_id"]), "production.failed")
        assert event["data"]["reason"] == failed["reason"]
        # The job never reached a printer: the event names none.
        assert event["data"].get("printer") is None

        # A failed job starts no more.
        assert (await mes.client.post(f"/api/v1/jobs/{job['id']}/start")).status_code == 409

    (fail_span,) = spans_named(spans, "mes.job.fail", job["id"])
    assert fail_span.status.status_code is trace.StatusCode.ERROR
    assert fail_span.status.description == failed["reason"]


async def test_a_model_missing_from_the_storage_fails_the_job_with_422(
    mes_app: MesFactory,
) -> None:
    async with mes_app() as mes:
        job = await mes.approve(uuid.uuid4(), "a" * 64)
        response = await mes.client.post(f"/api/v1/jobs/{job['id']}/start")
        assert response.status_code == 422, response.text
        assert (await mes.job(job["id"]))["status"] == "failed"


async def test_start_while_the_file_storage_is_down_answers_503_and_keeps_the_job_queued(
    mes_app: MesFactory, mes_db: AsyncEngine
) -> None:
    async with mes_app(files_url=f"http://127.0.0.1:{free_port()}") as mes:
        job = await mes.approve(uuid.uuid4(), "b" * 64)
        response = await mes.client.post(f"/api/v1/jobs/{job['id']}/start")
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert (await mes.job(job["id"]))["status"] == "queued"
        async with mes_db.connect() as connection:
            busy = await connection.scalar(
                text("SELECT count(*) FROM printers WHERE current_job_id = :j"), {"j": job["id"]}
            )
        assert busy == 0


async def test_unknown_jobs_are_404_and_malformed_ids_422(mes_app: MesFactory) -> None:
    missing = uuid.uuid4()
    async with mes_app() as mes:
        for method, path, body in [
            ("GET", f"/api/v1/jobs/{missing}", None),
            ("POST", f"/api/v1/jobs/{missing}/start", None),
            ("POST", f"/api/v1/jobs/{missing}/complete", None),
            ("POST", f"/api/v1/jobs/{missing}/fail", {"reason": "nozzle clog"}),
        ]:
            response = await mes.client.request(method, path, json=body)
            assert response.status_code == 404, (path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        assert (await mes.client.get("/api/v1/jobs/not-a-uuid")).status_code == 422
        assert (await mes.client.get("/api/v1/jobs", params={"status": "lost"})).status_code == 422
        assert (await mes.client.get("/api/v1/jobs", params={"limit": 0})).status_code == 422


async def test_failing_a_job_needs_a_reason_and_happens_once(
    mes_app: MesFactory, production_events: EventLog, spans: InMemorySpanExporter
) -> None:
    async with mes_app() as mes:
        job = await mes.approve(uuid.uuid4(), "c" * 64)
        url = f"/api/v1/jobs/{job['id']}/fail"
        assert (await mes.client.post(url, json={})).status_code == 422
        assert (await mes.client.post(url, json={"reason": ""})).status_code == 422
        response = await mes.client.post(url, json={"reason": "filament runout"})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "failed"
        assert response.json()["reason"] == "filament runout"
        event = await production_events.wait_for(uuid.UUID(job["order_id"]), "production.failed")
        assert event["data"]["reason"] == "filament runout"
        assert (await mes.client.post(url, json={"reason": "again"})).status_code == 409
        assert (await mes.client.post(f"/api/v1/jobs/{job['id']}/start")).status_code == 409
        assert (await mes.client.post(f"/api/v1/jobs/{job['id']}/complete")).status_code == 409
    (fail_span,) = spans_named(spans, "mes.job.fail", job["id"])
    assert fail_span.status.status_code is trace.StatusCode.ERROR
    assert (fail_span.attributes or {})["order.status"] == "failed"


async def test_a_nul_character_in_a_printer_or_reason_is_refused_not_a_server_error(
    mes_app: MesFactory,
) -> None:
    # PostgreSQL cannot store U+0000 (nor the outbox's jsonb): these used to be 500s.
    async with mes_app() as mes:
        job = await mes.approve(uuid.uuid4(), "c" * 64)
        for action, body in [("start", {"printer": "printer-1\x00"}), ("fail", {"reason": "\x00"})]:
            response = await mes.client.post(f"/api/v1/jobs/{job['id']}/{action}", json=body)
            assert response.status_code == 422, (action, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        assert (await mes.job(job["id"]))["status"] == "queued"


async def test_a_busy_printer_cannot_start_a_second_job(
    mes_app: MesFactory, file_storage: FileStorage
) -> None:
    async with mes_app() as mes:
        first = await mes.approve(*await file_storage.cube())
        second = await mes.approve(*await file_storage.cube())
        body = {"printer": "printer-4"}
        started = await mes.client.post(f"/api/v1/jobs/{first['id']}/start", json=body)
        assert started.status_code == 200, started.text
        busy = await mes.client.post(f"/api/v1/jobs/{second['id']}/start", json=body)
        assert busy.status_code == 409
        assert (await mes.job(second["id"]))["status"] == "queued"
        unknown = await mes.client.post(
            f"/api/v1/jobs/{second['id']}/start", json={"printer": "printer-99"}
        )
        assert unknown.status_code == 400
        # Free printer-4 again for the other tests.
        assert (await mes.client.post(f"/api/v1/jobs/{first['id']}/complete")).status_code == 200


async def test_cancelling_an_order_cancels_its_printing_job_and_frees_the_printer(
    mes_app: MesFactory, file_storage: FileStorage, mes_db: AsyncEngine
) -> None:
    async with mes_app() as mes:
        job = await mes.approve(*await file_storage.cube())
        started = await mes.client.post(
            f"/api/v1/jobs/{job['id']}/start", json={"printer": "printer-2"}
        )
        assert started.status_code == 200, started.text
        order_id = uuid.UUID(job["order_id"])
        await publish(mes.amqp, "order.cancelled", order_id, {"reason": "customer changed mind"})

        async def cancelled() -> dict[str, Any] | None:
            current = await mes.job(job["id"])
            return current if current["status"] == "cancelled" else None

        final = await eventually(cancelled, what="the job to be cancelled")
        assert final["reason"] == "customer changed mind"
        async with mes_db.connect() as connection:
            printer = (
                await connection.execute(
                    text("SELECT status, current_job_id FROM printers WHERE name = 'printer-2'")
                )
            ).one()
        assert (printer.status, printer.current_job_id) == ("idle", None)


async def test_a_cancellation_that_overtakes_the_approval_prevents_the_job(
    mes_app: MesFactory, mes_db: AsyncEngine
) -> None:
    order_id = uuid.uuid4()
    async with mes_app() as mes:

        async def handled(event: Event) -> bool:
            async with mes_db.connect() as connection:
                count = await connection.scalar(
                    text("SELECT count(*) FROM inbox WHERE message_id = :m"), {"m": event.id}
                )
            return bool(count == 1)

        cancel = await publish(mes.amqp, "order.cancelled", order_id, {"reason": "too late"})
        await eventually(lambda: handled(cancel), what="the cancellation to be consumed")
        late = approval(uuid.uuid4(), "d" * 64)
        approve = await publish(mes.amqp, "order.approved", order_id, late)
        await eventually(lambda: handled(approve), what="the approval to be consumed")
        response = await mes.client.get("/api/v1/jobs", params={"order_id": str(order_id)})
        assert response.json() == []
