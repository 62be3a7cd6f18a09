"""Span exporters that wrap the real one: drop personal data, and count what could not be sent.

The filter also drops the server span of a successful, fast read by one of our own services,
which the caller already records (``internal_calls``, span budget in docs/tracing.md).

The batch processor hands spans to ``FilteringExporter`` off the request path, so the cost of
filtering is paid on the exporter thread, never by a request.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from alexandrite.common.telemetry.internal_calls import is_bare_internal_read
from alexandrite.common.telemetry.personal_data import redact_attributes

__all__ = ["ExportCounters", "FilteringExporter", "without_personal_data"]


class ExportCounters:
    """Spans exported and spans lost (export failed or timed out), for metrics and tests.

    With the retrying buffer (``export_buffer``) in front, ``failed`` counts only spans lost
    for good; ``buffered`` is how many wait for the Collector now, ``retried`` how many sends
    were tried again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.exported = 0
        self.failed = 0
        self.buffered = 0
        self.retried = 0

    def add(self, result: SpanExportResult, count: int) -> None:
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self.exported += count
            else:
                self.failed += count


def without_personal_data(span: ReadableSpan) -> ReadableSpan:
    events = tuple(
        Event(event.name, redact_attributes(event.attributes), event.timestamp)
        for event in span.events
    )
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=redact_attributes(span.attributes),
        events=events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class FilteringExporter(SpanExporter):
    def __init__(
        self, inner: SpanExporter, counters: ExportCounters, *, slow_read_ms: float = 100.0
    ) -> None:
        self._inner = inner
        self._counters = counters
        # A read as slow as a slow statement keeps its span: it may hold that statement's span.
        self._slow_read_ms = slow_read_ms

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        cleaned = [
            without_personal_data(span)
            for span in spans
            if not is_bare_internal_read(span, self._slow_read_ms)
        ]
        if not cleaned:
            return SpanExportResult.SUCCESS
        try:
            result = self._inner.export(cleaned)
        except Exception:
            # An exporter must never take the service down: the spans are counted as lost.
            result = SpanExportResult.FAILURE
        self._counters.add(result, len(cleaned))
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)
