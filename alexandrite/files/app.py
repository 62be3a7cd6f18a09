"""The file storage process: builds the store, the analysis worker pool and the handlers."""

from __future__ import annotations

from fastapi import FastAPI

from alexandrite.common.metrics import ServiceMetrics
from alexandrite.common.service import ServiceRuntime, create_service_app
from alexandrite.common.service_part import built_part, install_part
from alexandrite.common.settings import TelemetrySettings
from alexandrite.files.analysis_pool import AnalysisPool
from alexandrite.files.handlers import FilesHandlers
from alexandrite.files.metrics import FilesMetrics
from alexandrite.files.routes import router
from alexandrite.files.runtime import FilesRuntime
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
        await pool.start()
        handlers = FilesHandlers(
            runtime.units_of_work,
            LocalDiskStore(settings.storage_dir),
            pool,
            settings.max_upload_bytes,
            files_metrics,
            runtime.faults,
        )
        install_part(app, FilesRuntime(handlers=handlers, analysis_pool=pool))

    async def on_shutdown(runtime: ServiceRuntime) -> None:
        files = built_part(app, FilesRuntime)
        if files is not None:
            await files.analysis_pool.close()

    # No queue: the service neither publishes nor consumes events yet.
    app = create_service_app(
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
        # The upload streams its multipart body under max_upload_bytes (upload_form.py).
        streamed_body_paths={"/api/v1/models"},
    )
    return app
