"""The Shop API process: builds the handlers, the file-storage client and the consumer."""

from __future__ import annotations

from fastapi import FastAPI

from alexandrite.common.metrics import ServiceMetrics
from alexandrite.common.service import ServiceRuntime, create_service_app
from alexandrite.common.service_part import built_part, install_part
from alexandrite.files.client import FilesClient
from alexandrite.shop import events
from alexandrite.shop.consumers import event_handlers
from alexandrite.shop.handlers import ShopHandlers
from alexandrite.shop.internal_routes import internal_router
from alexandrite.shop.metrics import ShopMetrics, order_status_collector
from alexandrite.shop.routes import router
from alexandrite.shop.runtime import ShopRuntime
from alexandrite.shop.settings import Settings
from alexandrite.shop.store import SqlShopUnitOfWork, tables

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = ServiceMetrics()
    shop_metrics = ShopMetrics(metrics.registry)

    async def on_startup(runtime: ServiceRuntime) -> None:
        files = FilesClient(settings.files_url, timeout_s=settings.upload_timeout_s)
        handlers = ShopHandlers(
            SqlShopUnitOfWork.factory(runtime.units_of_work), settings, files, shop_metrics
        )
        install_part(app, ShopRuntime(handlers=handlers, files=files))
        metrics.add(order_status_collector(runtime.database.sessions))

    async def on_shutdown(runtime: ServiceRuntime) -> None:
        shop = built_part(app, ShopRuntime)
        if shop is not None:
            await shop.files.close()

    app = create_service_app(
        settings=settings,
        title="Alexandrite Shop API",
        description="Customers create orders, upload 3D models, submit, cancel and follow status.",
        tables=tables,
        routers=[router, internal_router],
        queue=events.queue_spec(settings.consumer_retry_delays_ms),
        handlers=event_handlers(shop_metrics),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        metrics=metrics,
        # The model upload streams on to the file storage, which bounds it (max_upload_bytes).
        streamed_body_paths={"/api/v1/orders/{order_id}/model"},
    )
    return app
