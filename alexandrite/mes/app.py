"""The MES app: jobs API, the order.* consumer and, when enabled, the simulated printers."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from alexandrite.common.service import ServiceRuntime, create_service_app
from alexandrite.common.settings import TelemetrySettings
from alexandrite.files.client import FilesClient
from alexandrite.mes import store
from alexandrite.mes.consumers import event_handlers
from alexandrite.mes.events import queue_spec
from alexandrite.mes.metrics import job_status_collector
from alexandrite.mes.routes import FILES_CLIENT, router
from alexandrite.mes.settings import Settings
from alexandrite.mes.simulator import PrinterFleet

__all__ = ["FLEET", "create_app"]

FLEET = "fleet"


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

    async def on_startup(runtime: ServiceRuntime) -> None:
        files = FilesClient(settings.files_url, timeout_s=settings.files_timeout_s)
        runtime.extras[FILES_CLIENT] = files
        runtime.metrics.add(job_status_collector(runtime.database.sessions))
        async with runtime.units_of_work() as uow:
            await store.ensure_printers(uow.session, settings.printer_names())
            await uow.commit()
        if settings.simulate_printers:
            fleet = PrinterFleet(settings, runtime.units_of_work, files, runtime.faults)
            runtime.extras[FLEET] = fleet
            fleet.start()

    async def on_shutdown(runtime: ServiceRuntime) -> None:
        fleet = runtime.extras.pop(FLEET, None)
        if isinstance(fleet, PrinterFleet) and await fleet.stop():
            await _let_relay_publish(runtime)
        files = runtime.extras.pop(FILES_CLIENT, None)
        if isinstance(files, FilesClient):
            await files.close()

    return create_service_app(
        settings=settings,
        title="Alexandrite MES API",
        description="Production jobs (queue, start, complete, fail) and a simulated printer fleet.",
        tables=store.tables,
        routers=[router],
        queue=queue_spec(settings.consumer_retry_delays_ms, settings.queue_name),
        handlers=event_handlers(),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        telemetry_settings=telemetry_settings,
    )
