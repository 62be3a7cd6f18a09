"""The journey's verdict: one sentence that says where the order is and why (DESIGN.md §4).

A pure function of what the journey gathered (status history, errors and message hops from the
traces, the live waiting point, the OrderStuck limits), so every sentence is unit-tested:

    Failed in production at 06:56:37 on printer P2: filament runout (mes-api, span mes.job.fail)
    Waiting 4 h 10 min in `approved`, limit 15 min: STALLED — its `order.approved` event was
    published at 06:58:42 and is not yet consumed by mes-api (queue `mes.events`: 1 ready,
    0 consumers)
    Completed in 1 h 12 min
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alexandrite.common.readable import clock, duration, ended_stage
from alexandrite.common.status_limits import StatusLimit
from alexandrite.gateway.span_reading import Hop, SpanError

__all__ = ["Step", "decide"]


@dataclass(frozen=True)
class Step:
    """One status of the order: when it was entered, left, and the trace that caused it."""

    status: str
    entered: datetime
    left: datetime | None
    trace_id: str | None = None
    span_id: str | None = None
    reason: str | None = None

    def seconds(self, now: datetime) -> float:
        return max(0.0, ((self.left or now) - self.entered).total_seconds())


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _queue_words(waiting: dict[str, Any]) -> str:
    if not waiting.get("available"):
        return f"queue `{waiting.get('queue')}`: state unknown, RabbitMQ did not answer"
    return (
        f"queue `{waiting['queue']}`: {waiting['ready']} ready, "
        f"{waiting['unacked']} unacked, {_plural(waiting['consumers'], 'consumer')}"
    )


def _awaited_publish(hops: list[Hop], routing_key: str | None) -> Hop | None:
    matching = [hop for hop in hops if hop.routing_key == routing_key and hop.published_us]
    return max(matching, key=lambda hop: hop.published_us or 0) if matching else None


def _why_waiting(current: Step, waiting: dict[str, Any] | None, hops: list[Hop]) -> str:
    if waiting is None:
        return ""
    service = waiting.get("service")
    if waiting.get("queue"):
        hop = _awaited_publish(hops, waiting.get("awaits"))
        consumed = hop is not None and any(c["service"] == service for c in hop.consumers)
        when = (
            clock(datetime.fromtimestamp(hop.published_us / 1e6, tz=UTC))
            if hop is not None and hop.published_us
            else clock(current.entered)
        )
        verb = "was consumed" if consumed else "is not yet consumed"
        return (
            f"its `{waiting.get('awaits')}` event was published at {when} and {verb} by "
            f"{service} ({_queue_words(waiting)})"
        )
    if "job_id" in waiting or "job_status" in waiting:
        if not waiting.get("available"):
            return f"waiting on the MES, whose jobs API did not answer: {waiting.get('error')}"
        if waiting.get("job_id") is None:
            return "the MES has no production job for it"
        job = str(waiting["job_id"])[:8]
        printer = waiting.get("printer")
        where = f" on printer {printer}" if printer else ", no printer assigned yet"
        return f"MES job {job} is {waiting.get('job_status')}{where}"
    return f"next: {service} to {waiting.get('does')}"


def _failure_step(steps: list[Step], errors: list[SpanError]) -> SpanError | None:
    """The error behind the terminal status: one in the trace that made it, else the last."""
    final = steps[-1] if steps else None
    if final is not None and final.trace_id:
        same_trace = [error for error in errors if error.trace_id == final.trace_id]
        if same_trace:
            return same_trace[-1]
    return errors[-1] if errors else None


def decide(
    status: str,
    steps: list[Step],
    reason: str | None,
    errors: list[SpanError],
    hops: list[Hop],
    waiting: dict[str, Any] | None,
    limits: dict[str, StatusLimit],
    now: datetime,
    printer: str | None = None,
) -> dict[str, Any]:
    """The ``verdict`` object of the journey JSON."""
    current = steps[-1] if steps else None
    in_status = current.seconds(now) if current is not None else None
    limit = limits.get(status)
    verdict: dict[str, Any] = {
        "state": "in_progress",
        "summary": "",
        "reason": None,
        "step": None,
        "status": status,
        "in_status_s": round(in_status, 3) if in_status is not None else None,
        "limit_s": limit.seconds if limit is not None else None,
        "waiting_on": None,
    }
    total = (current.entered - steps[0].entered).total_seconds() if current and steps else 0.0
    if status in {"failed", "rejected", "cancelled"}:
        error = _failure_step(steps, errors) if status != "cancelled" else None
        text = reason or (error.message if error is not None else None)
        previous = steps[-2].status if len(steps) > 1 else "created"
        stage = ended_stage(previous)
        word = {"failed": "Failed", "rejected": "Rejected", "cancelled": "Cancelled"}[status]
        at = f" at {clock(current.entered)}" if current is not None else ""
        on_printer = f" on printer {printer}" if printer and status == "failed" else ""
        where = f" ({error.service}, span {error.span})" if error is not None else ""
        verdict["state"] = status
        verdict["reason"] = text
        verdict["summary"] = (
            f"{word} {stage}{at}{on_printer}: {text or 'no reason recorded'}{where}"
        )
        if error is not None:
            verdict["step"] = {
                "service": error.service,
                "span": error.span,
                "trace_id": error.trace_id,
                "span_id": error.span_id,
            }
        return verdict
    if status == "completed":
        verdict["state"] = "completed"
        verdict["summary"] = f"Completed in {duration(total)}"
        return verdict
    verdict["waiting_on"] = waiting
    if current is not None and current.trace_id:
        verdict["step"] = {
            "service": (waiting or {}).get("service"),
            "span": None,
            "trace_id": current.trace_id,
            "span_id": current.span_id,
        }
    why = _why_waiting(current, waiting, hops) if current is not None else ""
    limit_words = f", limit {duration(limit.seconds)}" if limit is not None else ", no limit"
    head = f"Waiting {duration(in_status)} in `{status}`{limit_words}"
    if limit is not None and in_status is not None and in_status > limit.seconds:
        verdict["state"] = "stalled"
        verdict["summary"] = f"{head}: STALLED — {why}" if why else f"{head}: STALLED"
    else:
        verdict["summary"] = f"{head}: in progress — {why}" if why else f"{head}: in progress"
    return verdict
