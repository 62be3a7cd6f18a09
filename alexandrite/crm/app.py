"""The CRM API's app: the only place that builds its clients and wires its parts together."""

from __future__ import annotations

from fastapi import FastAPI

from alexandrite.common.faults import Faults
from alexandrite.common.metrics import ServiceMetrics
from alexandrite.common.service import ServiceRuntime, create_service_app
from alexandrite.common.service_part import install_part
from alexandrite.common.settings import TelemetrySettings
from alexandrite.crm.consumers import event_handlers
from alexandrite.crm.domain import Pricing
from alexandrite.crm.events import queue_spec
from alexandrite.crm.faults import InjectedErrorsMiddleware, with_injected_errors
from alexandrite.crm.handlers import CrmHandlers
from alexandrite.crm.intake import ReviewPolicy
from alexandrite.crm.metrics import CrmMetrics, review_status_collector
from alexandrite.crm.routes import router
from alexandrite.crm.runtime import CrmRuntime
from alexandrite.crm.settings import Settings
from alexandrite.crm.store import SqlCrmUnitOfWork, tables
from alexandrite.files.client import FilesClient

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None, telemetry_settings: TelemetrySettings | None = None
) -> FastAPI:
    settings = settings or Settings()
    pricing = Pricing(
        rates=settings.rates, setup_fee=settings.setup_fee, currency=settings.currency
    )
    policy = ReviewPolicy(
        pricing=pricing,
        auto_approve=settings.auto_approve,
        auto_approve_max_price=settings.auto_approve_max_price,
    )
    # Built here (no connection is opened until the first request), closed at shutdown.
    files = FilesClient(settings.files_url, timeout_s=settings.files_timeout_s)
    metrics = ServiceMetrics()
    crm_metrics = CrmMetrics(metrics.registry)
    faults = Faults(settings.faults_file)

    async def on_startup(runtime: ServiceRuntime) -> None:
        install_part(
            app,
            CrmRuntime(
                handlers=CrmHandlers(
                    SqlCrmUnitOfWork.factory(runtime.units_of_work), pricing, crm_metrics
                )
            ),
        )
        metrics.add(review_status_collector(runtime.database.sessions))

    async def on_shutdown(runtime: ServiceRuntime) -> None:
        await files.close()

    app = create_service_app(
        settings=settings,
        title="Alexandrite CRM API",
        description=(
            "Managers review submitted orders, price them from the model analysis and approve "
            "or reject them; customers' complaints."
        ),
        tables=tables,
        routers=[router],
        queue=queue_spec(settings.consumer_retry_delays_ms, settings.queue_name),
        handlers=with_injected_errors(event_handlers(policy, files), faults),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        telemetry_settings=telemetry_settings,
        metrics=metrics,
        faults=faults,
    )
    # Inside the server span (the instrumentation wraps every middleware): a 503 is traced.
    app.add_middleware(InjectedErrorsMiddleware, faults=faults)
    return app
