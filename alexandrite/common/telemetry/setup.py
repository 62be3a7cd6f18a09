"""Set up the OpenTelemetry SDK of one service: resource, sampler, exporter, instrumentations.

Export is OTLP over TLS, verified against the local CA, with a bearer token: gRPC by default,
HTTP + protobuf with ``protocol="http/protobuf"`` (docs/performance.md compares the two). The batch
processor's queue is bounded: when the Collector is down, spans are dropped and counted, and no
request ever waits for the tracing pipeline. With ``enabled=False`` no provider is installed and
every tracer is a no-op, so a service runs the same without any tracing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from alexandrite import __version__
from alexandrite.common.settings import TelemetrySettings
from alexandrite.common.telemetry.export_buffer import filtered_with_retries
from alexandrite.common.telemetry.exporters import ExportCounters
from alexandrite.common.telemetry.order_context import OrderBaggageSpanProcessor

__all__ = ["Telemetry"]

_log = logging.getLogger(__name__)

# The stable HTTP semantic conventions (http.request.method, http.response.status_code, url.full)
# on the httpx client spans instead of the old names: DESIGN.md's attribute contract. Read once,
# before instrumenting. (Server spans are ours, server_spans.py, and use the stable names.)
os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")


def _otlp_exporter(settings: TelemetrySettings) -> SpanExporter:
    headers: dict[str, str] = {}
    if settings.token_file is not None:
        headers["authorization"] = f"Bearer {settings.token_file.read_text().strip()}"
    if settings.protocol == "http/protobuf":
        return _otlp_http_exporter(settings, headers)
    import grpc
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    gzip = settings.compression == "gzip"
    credentials = None
    if not settings.insecure:
        root = settings.ca_file.read_bytes() if settings.ca_file is not None else None
        credentials = grpc.ssl_channel_credentials(root_certificates=root)
    return OTLPSpanExporter(
        endpoint=settings.endpoint,
        insecure=settings.insecure,
        credentials=credentials,
        headers=headers,
        timeout=settings.export_timeout_ms / 1000,
        compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
    )


def _otlp_http_exporter(settings: TelemetrySettings, headers: dict[str, str]) -> SpanExporter:
    """OTLP/HTTP with protobuf: one POST per batch on a pooled connection, no gRPC threads."""
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(
        endpoint=settings.http_endpoint,
        # TLS verified against the local CA (requests' `verify`), else the system's roots.
        certificate_file=str(settings.ca_file) if settings.ca_file is not None else None,
        headers=headers,
        timeout=settings.export_timeout_ms / 1000,
        compression=(
            Compression.Gzip if settings.compression == "gzip" else Compression.NoCompression
        ),
    )


def _instrument_http_clients(provider: TracerProvider) -> None:
    """Every httpx client carries the trace context and baggage; idempotent."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)


@dataclass
class Telemetry:
    service_name: str
    enabled: bool
    provider: TracerProvider | None = None
    counters: ExportCounters = field(default_factory=ExportCounters)
    settings: TelemetrySettings = field(default_factory=TelemetrySettings)
    # False when the provider was installed by someone else (tests): not ours to shut down.
    owns_provider: bool = True
    _instrumented: list[Any] = field(default_factory=list)

    @classmethod
    def setup(
        cls,
        service_name: str,
        settings: TelemetrySettings,
        exporter: SpanExporter | None = None,
        extra_processors: Sequence[SpanProcessor] = (),
    ) -> Telemetry:
        if not settings.enabled:
            _log.info("tracing is switched off by configuration")
            return cls(service_name=service_name, enabled=False)
        installed = trace.get_tracer_provider()
        if isinstance(installed, TracerProvider):
            # Several services in one process (the in-process test stack) share the provider
            # installed first; a process has only one global provider.
            _instrument_http_clients(installed)
            return cls(
                service_name=service_name,
                enabled=True,
                provider=installed,
                settings=settings,
                owns_provider=False,
            )
        resource = Resource.create(
            {
                "service.name": service_name,
                "service.namespace": "alexandrite",
                "service.version": __version__,
                "deployment.environment": settings.environment,
                "deployment.environment.name": settings.environment,
            }
        )
        provider = TracerProvider(
            resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio))
        )
        provider.add_span_processor(OrderBaggageSpanProcessor())
        for processor in extra_processors:
            provider.add_span_processor(processor)
        telemetry = cls(
            service_name=service_name, enabled=True, provider=provider, settings=settings
        )
        inner = exporter if exporter is not None else _otlp_exporter(settings)
        provider.add_span_processor(
            BatchSpanProcessor(
                filtered_with_retries(inner, telemetry.counters, settings),
                max_queue_size=settings.max_queue_size,
                max_export_batch_size=settings.max_export_batch_size,
                schedule_delay_millis=settings.schedule_delay_ms,
                export_timeout_millis=settings.export_timeout_ms,
            )
        )
        trace.set_tracer_provider(provider)
        _instrument_http_clients(provider)
        return telemetry

    def instrument_app(self, app: Any) -> None:
        """A server span per request, and the trust boundary, as the app's outermost layer
        (``server_spans.ServerSpanMiddleware``)."""
        _without_fastapi_telemetry(app)
        if not self.enabled or self.provider is None:
            return
        from alexandrite.common.telemetry.server_spans import RouteTemplates, ServerSpanMiddleware
        from alexandrite.common.telemetry.trust_boundary import TrustBoundary

        tracer = self.provider.get_tracer("alexandrite.http", __version__)
        boundary = TrustBoundary.from_settings(self.settings)
        routes = RouteTemplates(lambda: app.routes)
        build_stack = app.build_middleware_stack

        def build_traced() -> Any:
            # Outside Starlette's ServerErrorMiddleware: the span sees the 500 it answers, and
            # the error handlers run while the span is current.
            return ServerSpanMiddleware(
                build_stack(), tracer=tracer, boundary=boundary, routes=routes
            )

        app.build_middleware_stack = build_traced

    def instrument_database(self, engine: Any) -> None:
        """Database statements of this engine, folded into their spans by default
        (``db_statements.StatementTracer``); not asyncpg's instrumentation as well, which would
        duplicate each statement. Attached per engine, so that every engine of the in-process
        test stack is traced, and without the SQLAlchemy instrumentation's pool listeners.
        """
        if not self.enabled or self.provider is None:
            return
        from alexandrite.common.telemetry.db_statements import StatementTracer

        StatementTracer(
            self.provider.get_tracer("alexandrite.db"),
            engine.sync_engine,
            mode=self.settings.db_statements,
            slow_ms=self.settings.db_slow_statement_ms,
        )

    def shutdown(self) -> None:
        if self.provider is not None and self.owns_provider:
            self.provider.shutdown()


def _without_fastapi_telemetry(app: Any) -> None:
    """Switch off FastAPI's own request telemetry for this app.

    FastAPI (>= 0.16x) makes its own server span (and operation spans) whenever a tracer
    provider is installed, unless it finds OpenTelemetry's ASGI middleware in the stack. It
    runs before the middleware stack, that is before the trust boundary: it would join an
    untrusted caller's trace, and double every server span. Its switches are only taken by
    ``FastAPI(telemetry=...)``; the app keeps them in ``_telemetry``, read per request.
    """
    config = getattr(app, "_telemetry", None)
    if isinstance(config, dict):
        config.update(tracing=False, metrics=False, logs=False, operation_spans=False)
