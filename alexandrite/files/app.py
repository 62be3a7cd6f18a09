"""The file storage process: builds the store, the analysis worker pool and the handlers."""

from __future__ import annotations

from fastapi import FastAPI

from alexandrite.common.metrics import ServiceMetrics
from alexandrite.common.service import ServiceRuntime, create_service_app
from alexandrite.common.settings import TelemetrySettings
from alexandrite.files.analysis_pool import AnalysisPool
from alexandrite.files.handlers import FilesHandlers
from alexandrite.files.metrics import FilesMetrics
from alexandrite.files.routes import router
from alexandrite.files.settings import Settings
from alexandrite.files.storage import LocalDiskStore
from alexandrite.files.store import tables

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None, telemetry_settings: TelemetrySettings | None = None
) -> FastAPI:
    settings = settings or Settings()
    metrics = ServiceMetrics()
    files_metrics = FilesMetrics(metrics.registry)

    async def on_startup(runtime: ServiceRuntime) -> None:
        pool = AnalysisPool(
            settings.analysis_workers,
            settings.analysis_timeout_s,
            settings.mesh_limits(),
            settings.pool_bounds(),
        )
        runtime.extras["analysis_pool"] = pool
        await pool.start()
        runtime.extras["handlers"] = FilesHandlers(
            runtime.units_of_work,
            LocalDiskStore(settings.storage_dir),
            pool,
            settings.max_upload_bytes,
            files_metrics,
            runtime.faults,
        )

    async def on_shutdown(runtime: ServiceRuntime) -> None:
        pool: AnalysisPool | None = runtime.extras.get("analysis_pool")
        if pool is not None:
            await pool.close()

    # No queue: the service neither publishes nor consumes events yet.
    return create_service_app(
        settings=settings,
        title="Alexandrite 3D file storage",
        description="Stores 3D models (STL, OBJ, 3MF), checks and measures them, serves them.",
        tables=tables,
        routers=[router],
        queue=None,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        telemetry_settings=telemetry_settings,
        metrics=metrics,
    )
