"""The ``order.lifecycle`` span: one span per finished order, from its creation to its end.

It is recorded when the order reaches a terminal status, with the order's real start and end
times, so its duration is the order's processing time. It is a root span of its own trace and
links to the trace of every step (each history row keeps the trace that caused it), which lets a
search by ``order.id`` gather the whole journey even when the steps are separate traces.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanContext, SpanKind, StatusCode, TraceFlags

from alexandrite.shop.domain import OrderStatus

__all__ = ["record_order_lifecycle", "status_durations"]

_tracer = trace.get_tracer("alexandrite.shop")


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def status_durations(history: Sequence[tuple[str, datetime]], end: datetime) -> dict[str, float]:
    """Seconds spent in each status, from an ordered history of (status, entered at)."""
    durations: dict[str, float] = {}
    for (status, entered), following in zip(
        history, [*(at for _, at in history[1:]), end], strict=True
    ):
        durations[status] = durations.get(status, 0.0) + max(
            0.0, (following - entered).total_seconds()
        )
    return durations


def record_order_lifecycle(
    order_id: str,
    final_status: str,
    created_at: datetime,
    finished_at: datetime,
    history: Sequence[tuple[str, datetime]],
    step_traces: Sequence[tuple[str, str]],
    reason: str | None = None,
) -> None:
    links = []
    for trace_id, span_id in dict.fromkeys(step_traces):
        context = SpanContext(
            trace_id=int(trace_id, 16),
            span_id=int(span_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        links.append(Link(context, {"link.kind": "order.step"}))
    attributes: dict[str, str | float | int] = {
        "order.id": order_id,
        "order.status": final_status,
        "order.final_status": final_status,
        "order.duration_s": round((finished_at - created_at).total_seconds(), 3),
        "order.steps": len(links),
    }
    for status, seconds in status_durations(history, finished_at).items():
        attributes[f"order.time_in_status.{status}_s"] = round(seconds, 3)
    # Zipkin shows no links: the step trace ids are also written as one attribute to copy.
    attributes["order.step_trace_ids"] = ",".join(dict.fromkeys(t for t, _ in step_traces))
    span = _tracer.start_span(
        "order.lifecycle",
        context=Context(),  # a root: the lifecycle is not part of any one step
        kind=SpanKind.INTERNAL,
        attributes=attributes,
        links=links,
        start_time=_ns(created_at),
    )
    if final_status == OrderStatus.FAILED:
        span.set_status(StatusCode.ERROR, reason or final_status)
    span.end(end_time=_ns(finished_at))
