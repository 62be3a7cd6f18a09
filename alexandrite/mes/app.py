"""The MES app: jobs API, the order.* consumer, the lease sweeper and, when enabled, the
simulated printers. The only place that builds the MES's objects (``MesRuntime``)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from alexandrite.common.metrics import ServiceMetrics
from alexandrite.common.service import ServiceRuntime, create_service_app
from alexandrite.common.service_part import built_part, install_part
from alexandrite.common.settings import TelemetrySettings
from alexandrite.files.client import FilesClient
from alexandrite.mes import store
from alexandrite.mes.consumers import event_handlers
from alexandrite.mes.events import queue_spec
from alexandrite.mes.handlers import MesHandlers
from alexandrite.mes.metrics import MesMetrics, PrintOverrunCollector, job_status_collector
from alexandrite.mes.recovery import LeaseSweeper
from alexandrite.mes.routes import router
from alexandrite.mes.runtime import MesRuntime
from alexandrite.mes.settings import Settings
from alexandrite.mes.simulator import PrinterFleet

__all__ = ["create_app"]


async def _let_relay_publish(runtime: ServiceRuntime, timeout_s: float = 5.0) -> None:
    """Give the relay a moment to publish the failures of interrupted prints before it stops,
    so the Shop and CRM learn of them now rather than at the next start."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if not await runtime.relay.pending():
            return
        # The relay has no "drained" signal to wait on: poll its outbox briefly.
        await asyncio.sleep(0.05)


def create_app(
    settings: Settings | None = None, telemetry_settings: TelemetrySettings | None = None
) -> FastAPI:
    settings = settings or Settings()
    metrics = ServiceMetrics()
    mes_metrics = MesMetrics(metrics.registry)
    # The consumer is built before the fleet (on start-up): it rings through this.
    fleet_of: list[PrinterFleet] = []

    def job_queued() -> None:
        for fleet in fleet_of:
            fleet.job_queued()

    async def on_startup(runtime: ServiceRuntime) -> None:
        files = FilesClient(settings.files_url, timeout_s=settings.files_timeout_s)
        handlers = MesHandlers(
            store.SqlMesUnitOfWork.factory(runtime.units_of_work),
            files,
            settings.print_times(),
            mes_metrics,
            lease_s=settings.print_lease_s,
            retry=settings.finish_retry(),
        )
        metrics.add(job_status_collector(runtime.database.sessions))
        metrics.add(PrintOverrunCollector(runtime.database.sessions, settings.print_times()))
        async with runtime.units_of_work() as uow:
            await store.ensure_printers(uow.session, settings.printer_names())
            await uow.commit()
        fleet = (
            PrinterFleet(settings, handlers, runtime.faults) if settings.simulate_printers else None
        )
        resumable = fleet.printer_names if fleet is not None else frozenset[str]()
        sweeper = LeaseSweeper(handlers, settings.print_lease_s, lambda: resumable)
        # Before serving: a job its dead predecessor left is failed (or resumed) at once.
        await sweeper.sweep()
        sweeper.start()
        if fleet is not None:
            fleet.start()
            fleet_of.append(fleet)
        install_part(app, MesRuntime(handlers=handlers, files=files, sweeper=sweeper, fleet=fleet))

    async def on_shutdown(runtime: ServiceRuntime) -> None:
        mes = built_part(app, MesRuntime)
        if mes is None:
            return  # start-up failed before building it: nothing of ours runs
        await mes.sweeper.stop()
        fleet_of.clear()
        if mes.fleet is not None and await mes.fleet.stop():
            await _let_relay_publish(runtime)
        await mes.files.close()

    app = create_service_app(
        settings=settings,
        title="Alexandrite MES API",
        description="Production jobs (queue, start, complete, fail) and a simulated printer fleet.",
        tables=store.tables,
        routers=[router],
        queue=queue_spec(settings.consumer_retry_delays_ms, settings.queue_name),
        handlers=event_handlers(job_queued if settings.simulate_printers else None),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        telemetry_settings=telemetry_settings,
        metrics=metrics,
    )
    return app
