"""Spans the Collector could not take wait here and are sent again once it is back.

``RetryingExportBuffer`` sits between the batch span processor and the real exporter. Its
``export`` only appends the batch to a bounded in-memory buffer and returns at once, so the
processor's own queue never fills and no request ever waits. One sender thread delivers the
buffer oldest first; a failed batch goes back to the front and the sender waits, backing off
(with jitter, up to ``max_backoff_s``), before it tries again. A short Collector outage thus
costs no span, only delay.

The buffer is bounded by ``max_spans`` (its memory with it). When an outage outlasts it, the
oldest batches are dropped and counted as lost in ``ExportCounters.failed``
(``alexandrite_spans_failed_total`` on /metrics), like every span that never reaches the
Collector; ``ExportCounters.buffered`` says how many wait right now.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from alexandrite.common.settings import TelemetrySettings
from alexandrite.common.telemetry.exporters import ExportCounters, FilteringExporter

__all__ = ["RetryingExportBuffer", "filtered_with_retries"]

_log = logging.getLogger(__name__)

Batch = tuple[ReadableSpan, ...]


class RetryingExportBuffer(SpanExporter):
    def __init__(
        self,
        inner: SpanExporter,
        counters: ExportCounters,
        *,
        max_spans: int,
        initial_backoff_s: float = 0.5,
        max_backoff_s: float = 5.0,
        shutdown_timeout_s: float = 5.0,
    ) -> None:
        self._inner = inner
        self._counters = counters
        self._max_spans = max_spans
        self._initial_backoff_s = initial_backoff_s
        self._max_backoff_s = max_backoff_s
        self._shutdown_timeout_s = shutdown_timeout_s
        self._waiting: collections.deque[Batch] = collections.deque()
        # Spans held: waiting plus the batch being sent.
        self._held = 0
        self._changed = threading.Condition()
        self._closing = False
        self._sender = threading.Thread(
            target=self._send_forever, name="alexandrite-span-sender", daemon=True
        )
        self._sender.start()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        batch = tuple(spans)
        if not batch:
            return SpanExportResult.SUCCESS
        with self._changed:
            if self._closing:
                self._counters.add(SpanExportResult.FAILURE, len(batch))
                return SpanExportResult.FAILURE
            self._waiting.append(batch)
            self._held += len(batch)
            self._drop_oldest_over_bound()
            self._publish_held()
            self._changed.notify_all()
        return SpanExportResult.SUCCESS

    def _drop_oldest_over_bound(self) -> None:
        dropped = 0
        while self._held > self._max_spans and self._waiting:
            oldest = self._waiting.popleft()
            self._held -= len(oldest)
            dropped += len(oldest)
        if dropped:
            self._counters.add(SpanExportResult.FAILURE, dropped)
            _log.warning(
                "span buffer full (%d spans): dropped the oldest %d", self._max_spans, dropped
            )

    def _publish_held(self) -> None:
        self._counters.buffered = self._held

    def _send_forever(self) -> None:
        backoff_s = self._initial_backoff_s
        deadline: float | None = None
        while True:
            with self._changed:
                while not self._waiting and not self._closing:
                    self._changed.wait()
                if not self._waiting:
                    return
                if self._closing and deadline is None:
                    deadline = time.monotonic() + self._shutdown_timeout_s
                batch = self._waiting.popleft()
            delivered = self._send(batch)
            with self._changed:
                if delivered:
                    self._held -= len(batch)
                    self._counters.add(SpanExportResult.SUCCESS, len(batch))
                    backoff_s = self._initial_backoff_s
                elif self._closing and deadline is not None and time.monotonic() >= deadline:
                    self._give_up(batch)
                else:
                    # Back to the front: order kept, and the bound may now drop newer ones last.
                    self._waiting.appendleft(batch)
                    self._counters.retried += len(batch)
                    pause = backoff_s * random.uniform(0.8, 1.2)
                    backoff_s = min(backoff_s * 2, self._max_backoff_s)
                    if self._closing and deadline is not None:
                        pause = min(pause, max(0.0, deadline - time.monotonic()))
                    self._changed.wait(pause)
                self._publish_held()
                self._changed.notify_all()

    def _send(self, batch: Batch) -> bool:
        try:
            return self._inner.export(batch) is SpanExportResult.SUCCESS
        except Exception:
            # An exporter must never take the service down; the batch is tried again.
            _log.warning("span export raised; will retry", exc_info=True)
            return False

    def _give_up(self, batch: Batch) -> None:
        """Shutting down and the Collector still away: what is left is lost, and counted."""
        lost = len(batch) + sum(len(waiting) for waiting in self._waiting)
        self._waiting.clear()
        self._held = 0
        self._counters.add(SpanExportResult.FAILURE, lost)
        _log.warning("shutting down with the Collector unreachable: %d spans lost", lost)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Wait until every held span was delivered, at most `timeout_millis`."""
        deadline = time.monotonic() + timeout_millis / 1000
        with self._changed:
            while self._held:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
        # Some exporters answer None (the base class's default): only False means "not flushed".
        return self._inner.force_flush(remaining_ms) is not False

    def shutdown(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._sender.join(self._shutdown_timeout_s + self._max_backoff_s + 1)
        self._inner.shutdown()


def filtered_with_retries(
    exporter: SpanExporter, counters: ExportCounters, settings: TelemetrySettings
) -> SpanExporter:
    """`exporter` behind the personal-data filter and a retry buffer of the configured size
    (none when it is 0: a failed export is then lost at once, and counted)."""
    if settings.retry_buffer_spans <= 0:
        return FilteringExporter(exporter, counters, slow_read_ms=settings.db_slow_statement_ms)
    # Attempts are not outcomes: the buffer counts what was delivered and what was lost.
    return RetryingExportBuffer(
        FilteringExporter(exporter, ExportCounters(), slow_read_ms=settings.db_slow_statement_ms),
        counters,
        max_spans=settings.retry_buffer_spans,
        max_backoff_s=settings.retry_max_backoff_s,
    )
