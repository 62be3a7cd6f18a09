"""The support gateway's FastAPI app.

Not built on ``create_service_app``: that shape brings a broker, an outbox relay and a consumer,
and the gateway has no events. It keeps the rest of it: JSON logs, telemetry (service.name
``support-gateway``), problem+json errors, ``/health`` and ``/ready``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from alexandrite import __version__
from alexandrite.common.body_limit import install_body_limit
from alexandrite.common.logs import configure_logging
from alexandrite.common.problems import install_error_handlers
from alexandrite.common.settings import TelemetrySettings
from alexandrite.common.telemetry import Telemetry
from alexandrite.gateway import auth_routes, trace_routes
from alexandrite.gateway.access import install_access_handlers
from alexandrite.gateway.audit_log import AuditLog
from alexandrite.gateway.audit_middleware import AuditMiddleware
from alexandrite.gateway.runtime import GatewayRuntime
from alexandrite.gateway.security_headers import SecurityHeadersMiddleware
from alexandrite.gateway.settings import Settings

__all__ = ["create_app"]

_log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, telemetry_settings: TelemetrySettings | None = None
) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.service_name, settings.log_level)
    telemetry = Telemetry.setup(settings.service_name, telemetry_settings or TelemetrySettings())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = GatewayRuntime.build(settings)
        telemetry.instrument_database(runtime.database.engine)
        app.state.gateway = runtime
        # The audit head goes outside the database even when no N-th row comes (audit_anchor).
        anchoring = asyncio.create_task(
            runtime.audit.keep_anchoring(settings.audit_anchor_interval_s), name="audit-anchor"
        )
        _log.info(
            "support gateway %s listening on %s:%d", __version__, settings.host, settings.port
        )
        try:
            yield
        finally:
            anchoring.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await anchoring
            await runtime.audit.anchor_head()
            await runtime.close()
            telemetry.shutdown()

    app = FastAPI(
        title="Alexandrite support gateway",
        description="The only way to the traces: login, roles, audit log, Zipkin, order journeys.",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(app)
    install_access_handlers(app)

    def audit_log() -> AuditLog:
        runtime: GatewayRuntime = app.state.gateway
        return runtime.audit

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get("/ready", include_in_schema=False)
    async def ready(request: Request) -> JSONResponse:
        runtime: GatewayRuntime = request.app.state.gateway
        database_ok = await runtime.database.ping()
        return JSONResponse(
            status_code=200 if database_ok else 503,
            content={
                "status": "ready" if database_ok else "not ready",
                "checks": {"database": database_ok},
            },
        )

    app.include_router(auth_routes.router)
    app.include_router(trace_routes.router)
    # Inside the audit middleware: a body refused for its size is still audited.
    install_body_limit(app)
    app.add_middleware(AuditMiddleware, audit_log=audit_log)
    app.add_middleware(SecurityHeadersMiddleware)
    telemetry.instrument_app(app)
    return app
