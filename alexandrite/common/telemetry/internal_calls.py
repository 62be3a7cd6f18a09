"""Calls between our own services: one span per hop, not two (span budget, docs/tracing.md).

A call from one of our services to another was recorded twice, by the caller's httpx client span
and by the callee's server span, with the same method, URL, status and nearly the same duration.
Now:

- The caller makes no client span for a call that succeeds. The call is folded into the span it
  runs in (the request, consumer or business span) as ``http.client.call_count`` and
  ``http.client.total_duration_ms``, like database statements; the trace context and baggage
  are still injected, so the callee's spans join the caller's trace and carry ``order.id``.
- A call that fails (no answer, a timeout, a 5xx) is still a CLIENT span, recorded after the
  fact with its real start time, status ERROR and ``error.type``: the callee may have no span
  at all then, and this one says where the journey broke.
- The callee drops the server span of a successful, fast read by one of our services
  (``is_bare_internal_read``, applied by the exporter): a GET below 400, with no event, no link,
  and no span beneath it (it is faster than a slow statement), says nothing the caller's folded
  count does not. A
  write keeps its server span: the business spans of the write (``files.upload`` …) are its
  children.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.utils import suppress_http_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, Status, StatusCode

__all__ = [
    "CALL_COUNT",
    "INTERNAL_CALLER",
    "TOTAL_DURATION_MS",
    "InternalCall",
    "is_bare_internal_read",
]

CALL_COUNT = "http.client.call_count"
TOTAL_DURATION_MS = "http.client.total_duration_ms"
# Set on a server span whose caller presented our internal credential (trust_boundary).
INTERNAL_CALLER = "alexandrite.caller.internal"

_tracer = trace.get_tracer("alexandrite.internal_calls")


class InternalCall:
    """One HTTP call to another of our services; use as ``with InternalCall(...) as call``.

    ``call.headers`` holds the trace context and baggage to send; ``call.answered(status)``
    records the status of the answer. The httpx instrumentation is suppressed inside.
    """

    def __init__(self, method: str, url: str) -> None:
        self.method = method
        self.url = url
        self.headers: dict[str, str] = {}
        self._status: int | None = None
        self._started = 0
        self._suppressed: Any = None

    def __enter__(self) -> InternalCall:
        propagate.inject(self.headers)
        self._started = time.time_ns()
        self._suppressed = suppress_http_instrumentation()
        self._suppressed.__enter__()
        return self

    def answered(self, status: int) -> None:
        self._status = status

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._suppressed.__exit__(kind, error, traceback)
        ended = time.time_ns()
        failed = error is not None or (self._status is not None and self._status >= 500)
        if failed:
            self._record_failure(ended, error)
        else:
            _fold(ended - self._started)

    def _record_failure(self, ended: int, error: BaseException | None) -> None:
        attributes: dict[str, Any] = {"http.request.method": self.method, "url.full": self.url}
        if self._status is not None:
            attributes["http.response.status_code"] = self._status
            attributes["error.type"] = str(self._status)
        if error is not None:
            attributes["error.type"] = type(error).__qualname__
        span = _tracer.start_span(
            self.method,
            context=otel_context.get_current(),
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=self._started,
        )
        if error is not None:
            span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, str(attributes["error.type"])))
        span.end(end_time=ended)


def _fold(duration_ns: int) -> None:
    span = trace.get_current_span()
    if not span.is_recording():
        return
    so_far: Mapping[str, Any] = getattr(span, "attributes", None) or {}
    count = int(so_far.get(CALL_COUNT, 0)) + 1
    total = float(so_far.get(TOTAL_DURATION_MS, 0.0)) + duration_ns / 1_000_000
    span.set_attributes({CALL_COUNT: count, TOTAL_DURATION_MS: round(total, 3)})


def is_bare_internal_read(span: ReadableSpan, slow_ms: float) -> bool:
    """A server span of a successful GET by one of our services, faster than `slow_ms`."""
    if span.kind is not SpanKind.SERVER:
        return False
    attributes = span.attributes or {}
    if attributes.get(INTERNAL_CALLER) is not True:
        return False
    if attributes.get("http.request.method") != "GET":
        return False
    status = attributes.get("http.response.status_code")
    if not isinstance(status, int) or status >= 400 or span.status.status_code is StatusCode.ERROR:
        return False
    # Anything recorded on it beyond the request itself (an event, a link, baggage it ignored)
    # is worth its span.
    if span.events or span.links or "alexandrite.baggage.ignored" in attributes:
        return False
    if span.start_time is None or span.end_time is None:
        return False
    return (span.end_time - span.start_time) < slow_ms * 1_000_000
