"""What every service process is made of, built in one place.

``ServiceRuntime`` holds the database, the broker connection, the outbox relay and the consumer
of one service; ``create_service_app`` wires them into a FastAPI app with the error handlers,
``/health`` (liveness), ``/ready`` (database and broker reachable), ``/metrics`` (Prometheus),
telemetry, and the run-time faults (``alexandrite.common.faults``) every service obeys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from alexandrite import __version__
from alexandrite.common.body_limit import install_body_limit
from alexandrite.common.db import Database
from alexandrite.common.fault_watch import ConsumerPauseWatch
from alexandrite.common.faults import Faults
from alexandrite.common.logs import configure_logging
from alexandrite.common.messaging.broker import Broker
from alexandrite.common.messaging.consumer import EventConsumer, EventHandler
from alexandrite.common.messaging.consumer_metrics import ConsumerMetrics
from alexandrite.common.messaging.outbox_relay import OutboxRelay
from alexandrite.common.messaging.tables import MessagingTables
from alexandrite.common.messaging.topology import QueueSpec, declare_events_exchange
from alexandrite.common.metrics import ServiceMetrics, install_metrics_route
from alexandrite.common.problems import install_error_handlers
from alexandrite.common.runtime_metrics import (
    FaultCollector,
    OutboxPendingCollector,
    SpanExportCollector,
)
from alexandrite.common.settings import ServiceSettings, TelemetrySettings
from alexandrite.common.telemetry import Telemetry
from alexandrite.common.unit_of_work import UnitOfWorkFactory

__all__ = ["RuntimeDep", "ServiceRuntime", "create_service_app", "get_runtime"]

_log = logging.getLogger(__name__)

Hook = Callable[["ServiceRuntime"], Awaitable[None]]


@dataclass
class ServiceRuntime:
    settings: ServiceSettings
    database: Database
    broker: Broker
    relay: OutboxRelay
    units_of_work: UnitOfWorkFactory
    telemetry: Telemetry
    consumer: EventConsumer | None = None
    faults: Faults = field(default_factory=lambda: Faults(None))
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    # A service's own objects (handlers, clients, workers) are typed, in common.service_part.


def get_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]


def create_service_app(
    *,
    settings: ServiceSettings,
    title: str,
    description: str,
    tables: MessagingTables,
    routers: Sequence[APIRouter],
    queue: QueueSpec | None = None,
    handlers: Mapping[str, EventHandler] | None = None,
    on_startup: Hook | None = None,
    on_shutdown: Hook | None = None,
    telemetry_settings: TelemetrySettings | None = None,
    metrics: ServiceMetrics | None = None,
    faults: Faults | None = None,
    streamed_body_paths: Collection[str] = (),
) -> FastAPI:
    """``metrics`` and ``faults``: pass them when the service's own objects need them before
    start-up (its metrics on the same registry, its handlers obeying the faults).
    ``streamed_body_paths``: routes that bound their own streamed bodies (not ``BodyLimit``)."""
    configure_logging(settings.service_name, settings.log_level)
    telemetry = Telemetry.setup(settings.service_name, telemetry_settings or TelemetrySettings())
    metrics = metrics if metrics is not None else ServiceMetrics()
    faults = faults if faults is not None else Faults(settings.faults_file)
    metrics.add(SpanExportCollector(telemetry.counters))
    metrics.add(FaultCollector(faults))
    consumer_metrics = ConsumerMetrics(metrics.registry, queue.name) if queue else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database.connect(settings.database_url, settings.db_pool_size)
        telemetry.instrument_database(database.engine)
        broker = Broker(settings.amqp_url, settings.service_name)
        relay = OutboxRelay(
            database.sessions,
            tables,
            broker,
            batch_size=settings.outbox_batch_size,
            poll_interval_s=settings.outbox_poll_interval_s,
        )
        units_of_work = UnitOfWorkFactory(
            database.sessions,
            tables,
            settings.service_name,
            on_events_committed=relay.wake,
            latency=faults.db_wait_s,
        )
        metrics.add(OutboxPendingCollector(database.sessions, tables.outbox))

        async def declare_exchange(channel: Any) -> None:
            await declare_events_exchange(channel)

        broker.on_connected(declare_exchange)
        runtime = ServiceRuntime(
            settings=settings,
            database=database,
            broker=broker,
            relay=relay,
            units_of_work=units_of_work,
            telemetry=telemetry,
            faults=faults,
            metrics=metrics,
        )
        pause_watch: ConsumerPauseWatch | None = None
        if queue is not None:
            runtime.consumer = EventConsumer(
                broker,
                replace(queue, queue_type=settings.queue_type),
                handlers or {},
                units_of_work,
                max_attempts=settings.consumer_max_attempts,
                prefetch=settings.consumer_prefetch,
                metrics=consumer_metrics,
            )
            pause_watch = ConsumerPauseWatch(runtime.consumer, faults, settings.service_name)
        app.state.runtime = runtime
        if on_startup is not None:
            await on_startup(runtime)
        broker.start()
        relay.start()
        if pause_watch is not None:
            pause_watch.start()
        _log.info("%s %s listening on %s:%d", title, __version__, settings.host, settings.port)
        try:
            yield
        finally:
            if pause_watch is not None:
                await pause_watch.stop()
            if on_shutdown is not None:
                await on_shutdown(runtime)
            metrics.remove_scrape_collectors()
            await relay.stop()
            await broker.close()
            await database.close()
            telemetry.shutdown()

    app = FastAPI(
        title=title,
        description=description,
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    _install_common_routes(app, settings.service_name, metrics, streamed_body_paths)
    for router in routers:
        app.include_router(router, prefix="/api/v1")
    telemetry.instrument_app(app)
    return app


def _install_common_routes(
    app: FastAPI, service_name: str, metrics: ServiceMetrics, streamed_body_paths: Collection[str]
) -> None:
    """What every service answers the same way: errors, body limit, probes, ``/metrics``."""
    install_error_handlers(app)
    install_body_limit(app, streamed_body_paths)
    _install_probes(app, service_name)
    install_metrics_route(app, metrics)


def _install_probes(app: FastAPI, service_name: str) -> None:
    @app.get("/health", tags=["operations"], summary="Liveness: the process serves requests")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": service_name}

    @app.get(
        "/ready",
        tags=["operations"],
        summary="Readiness: database and broker reachable",
        responses={
            503: {
                "description": "Not ready: the checks say which dependency is unreachable",
                "content": {"application/json": {}},
            }
        },
    )
    async def ready(runtime: RuntimeDep) -> JSONResponse:
        database_ok, broker_ok = await asyncio.gather(
            runtime.database.ping(), asyncio.to_thread(lambda: runtime.broker.ready)
        )
        checks = {"database": database_ok, "broker": broker_ok}
        status = 200 if all(checks.values()) else 503
        return JSONResponse(
            status_code=status,
            content={"status": "ready" if status == 200 else "not ready", "checks": checks},
        )
