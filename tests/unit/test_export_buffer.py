"""The retry buffer between the batch processor and the exporter (export_buffer)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import cast

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from alexandrite.common.telemetry.export_buffer import RetryingExportBuffer
from alexandrite.common.telemetry.exporters import ExportCounters

_TRACER = TracerProvider().get_tracer("tests")


class Collector(SpanExporter):
    """An exporter that refuses while ``down`` is set, and can hang on demand."""

    def __init__(self) -> None:
        self.down = threading.Event()
        self.hang = threading.Event()
        self.received: list[str] = []
        self.attempts = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.attempts += 1
        while self.hang.is_set():
            time.sleep(0.01)
        if self.down.is_set():
            return SpanExportResult.FAILURE
        self.received += [span.name for span in spans]
        return SpanExportResult.SUCCESS


def _spans(prefix: str, count: int) -> list[ReadableSpan]:
    spans: list[ReadableSpan] = []
    for index in range(count):
        span = _TRACER.start_span(f"{prefix}-{index}")
        span.end()
        spans.append(cast(ReadableSpan, span))
    return spans


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _buffer(
    collector: Collector, counters: ExportCounters, max_spans: int = 1000
) -> RetryingExportBuffer:
    return RetryingExportBuffer(
        collector,
        counters,
        max_spans=max_spans,
        initial_backoff_s=0.01,
        max_backoff_s=0.05,
        shutdown_timeout_s=0.5,
    )


def test_batches_exported_while_the_collector_is_down_all_arrive_in_order_once_it_is_back() -> None:
    collector, counters = Collector(), ExportCounters()
    buffer = _buffer(collector, counters)
    collector.down.set()
    sent = [span.name for batch in range(10) for span in _spans(f"b{batch}", 20)]
    for start in range(0, len(sent), 20):
        assert buffer.export(_spans_named(sent[start : start + 20])) is SpanExportResult.SUCCESS
    _until(lambda: collector.attempts >= 3)
    assert counters.buffered == 200
    collector.down.clear()
    _until(lambda: len(collector.received) == 200)
    assert collector.received == sent
    assert (counters.exported, counters.failed, counters.buffered) == (200, 0, 0)
    assert counters.retried > 0
    buffer.shutdown()


def test_past_its_bound_the_buffer_drops_the_oldest_and_counts_them_as_lost() -> None:
    collector, counters = Collector(), ExportCounters()
    buffer = _buffer(collector, counters, max_spans=50)
    collector.down.set()
    for batch in range(8):
        buffer.export(_spans(f"b{batch}", 10))
    assert counters.buffered <= 50 + 10  # the bound, plus the one batch being sent
    assert counters.failed == 80 - counters.buffered
    collector.down.clear()
    _until(lambda: counters.buffered == 0)
    assert counters.exported + counters.failed == 80
    # The newest are kept: the last batch made it.
    assert "b7-9" in collector.received
    buffer.shutdown()


def test_export_returns_at_once_even_while_the_exporter_hangs() -> None:
    collector, counters = Collector(), ExportCounters()
    buffer = _buffer(collector, counters)
    collector.hang.set()
    buffer.export(_spans("first", 5))
    _until(lambda: collector.attempts == 1)
    started = time.monotonic()
    for batch in range(100):
        buffer.export(_spans(f"b{batch}", 5))
    assert time.monotonic() - started < 0.5
    collector.hang.clear()
    _until(lambda: counters.exported == 505)
    buffer.shutdown()


def test_shutdown_with_the_collector_still_down_ends_in_bounded_time_and_counts_the_loss() -> None:
    collector, counters = Collector(), ExportCounters()
    buffer = _buffer(collector, counters)
    collector.down.set()
    buffer.export(_spans("late", 30))
    started = time.monotonic()
    buffer.shutdown()
    assert time.monotonic() - started < 3
    assert (counters.exported, counters.failed, counters.buffered) == (0, 30, 0)
    assert buffer.export(_spans("after", 1)) is SpanExportResult.FAILURE
    assert counters.failed == 31


def test_force_flush_waits_for_the_held_spans_to_be_delivered() -> None:
    collector, counters = Collector(), ExportCounters()
    buffer = _buffer(collector, counters)
    collector.down.set()
    buffer.export(_spans("held", 10))
    assert buffer.force_flush(timeout_millis=100) is False
    collector.down.clear()
    assert buffer.force_flush(timeout_millis=5000) is True
    assert counters.exported == 10
    buffer.shutdown()


def _spans_named(names: list[str]) -> list[ReadableSpan]:
    spans: list[ReadableSpan] = []
    for name in names:
        span = _TRACER.start_span(name)
        span.end()
        spans.append(cast(ReadableSpan, span))
    return spans
