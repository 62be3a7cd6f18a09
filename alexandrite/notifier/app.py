"""The notifier's app: the only place that builds its clients and wires its parts together."""

from __future__ import annotations

from fastapi import FastAPI

from alexandrite.common.service import ServiceRuntime, create_service_app
from alexandrite.common.service_part import built_part, install_part
from alexandrite.common.settings import TelemetrySettings
from alexandrite.notifier.channels import WebhookChannel, build_channels
from alexandrite.notifier.delivery_worker import DeliveryWorker
from alexandrite.notifier.enrichment import Enricher, OrderLookup
from alexandrite.notifier.handlers import NotifierHandlers
from alexandrite.notifier.routes import router
from alexandrite.notifier.runtime import NotifierRuntime
from alexandrite.notifier.settings import Settings
from alexandrite.notifier.store import tables

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None, telemetry_settings: TelemetrySettings | None = None
) -> FastAPI:
    settings = settings or Settings()
    channels = build_channels(settings)
    orders = OrderLookup(settings.shop_url, timeout_s=settings.enrichment_timeout_s)
    enricher = Enricher(
        orders, settings.zipkin_url, settings.gateway_url, settings.enrichment_orders
    )

    async def on_startup(runtime: ServiceRuntime) -> None:
        worker = DeliveryWorker(runtime.database.sessions, channels, enricher, settings)
        handlers = NotifierHandlers(runtime.units_of_work, list(channels), on_received=worker.wake)
        install_part(app, NotifierRuntime(handlers=handlers, worker=worker))
        worker.start()

    async def on_shutdown(runtime: ServiceRuntime) -> None:
        notifier = built_part(app, NotifierRuntime)
        if notifier is not None:
            await notifier.worker.stop()
        await orders.close()
        for channel in channels.values():
            if isinstance(channel, WebhookChannel):
                await channel.close()

    app = create_service_app(
        settings=settings,
        title="Alexandrite notifier",
        description=(
            "Receives Alertmanager's webhooks, stores each alert notification once, adds the "
            "order id and links to order alerts, and delivers them: JSON log, the stored list "
            "(for the support gateway), e-mail and a chat webhook."
        ),
        tables=tables,
        routers=[router],
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        telemetry_settings=telemetry_settings,
    )
    return app
