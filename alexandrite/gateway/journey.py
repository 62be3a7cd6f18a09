"""The order journey: the order's steps from the Shop, its traces fetched from Zipkin by id, the
live waiting point, and the verdict (DESIGN.md §4, the support console).

Fast at any store size: no tag search. The Shop's internal read gives the trace id of every
status change, of the model upload and of each event the Shop published; those traces are
fetched by id, many per request (``/api/v2/traceMany?traceIds=…``, TRACES_PER_READ ids each):
one search in the store instead of one per trace. On OpenSearch each search visits every daily
index, and one per trace (7-8 per order, in parallel) cost ~3.5 times as long on two cores
(docs/scaling.md). Zipkin unreachable → the journey still shows the status history and says
that traces are unavailable.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx

from alexandrite.common.errors import DependencyFailed, NotFound
from alexandrite.common.http_client import raise_for_problem
from alexandrite.common.status_limits import StatusLimit
from alexandrite.gateway.span_reading import (
    business_spans,
    cause_of,
    message_hops,
    service_of,
    span_errors,
)
from alexandrite.gateway.verdict import Step, decide
from alexandrite.gateway.waiting_point import LiveSources

__all__ = [
    "TERMINAL",
    "TRACES_PER_READ",
    "JourneyBuilder",
    "span_url",
    "steps_of",
    "summarise_traces",
    "timeline",
    "zipkin_search_url",
    "zipkin_trace_url",
]

TERMINAL = frozenset({"rejected", "completed", "failed", "cancelled"})
Span = dict[str, Any]


# Ids per traceMany read: 50 × 33 characters keeps its URL well under the 4 KiB request line
# an HTTP server (Zipkin's Armeria) accepts by default.
TRACES_PER_READ = 50


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _from_us(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1e6, tz=UTC)


def zipkin_trace_url(trace_id: str) -> str:
    """The whole trace in Zipkin's UI, through the gateway."""
    return f"/zipkin/traces/{trace_id}"


def span_url(trace_id: str, span_id: str | None = None) -> str:
    """The gateway's page of that one span (read from Zipkin), else the whole trace in Zipkin.

    Zipkin's UI (Lens, 3.x) cannot be told which span to open: its trace page always selects
    the root span and reads nothing but the trace id from the URL (``?spanId=`` is ignored),
    so a span link goes to the gateway's own view of the span, which links the trace in Zipkin.
    """
    if not span_id:
        return zipkin_trace_url(trace_id)
    return f"/traces/{trace_id}/spans/{span_id}"


def steps_of(history: list[dict[str, Any]]) -> list[Step]:
    ordered = sorted(history, key=lambda entry: _parse_time(str(entry["at"])))
    steps = []
    for index, entry in enumerate(ordered):
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        entered = _parse_time(str(entry["at"]))
        left = _parse_time(str(following["at"])) if following is not None else None
        if following is None and entry["status"] in TERMINAL:
            left = entered
        steps.append(
            Step(
                str(entry["status"]),
                entered,
                left,
                entry.get("trace_id"),
                entry.get("span_id"),
                entry.get("reason"),
            )
        )
    return steps


def timeline(history: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Each status with how long the order stayed in it (the current one: until now)."""
    return [
        {
            "status": step.status,
            "at": step.entered.isoformat(),
            "duration_s": round(step.seconds(now), 3),
            "current": step.left is None,
        }
        for step in steps_of(history)
    ]


def summarise_traces(traces: list[list[Span]], zipkin_base: str = "/zipkin") -> dict[str, Any]:
    """Per trace: root, services, span and error counts, start and duration; plus totals."""
    summaries: list[dict[str, Any]] = []
    services: Counter[str] = Counter()
    errors = []
    for spans in traces:
        if not spans:
            continue
        trace_id = str(spans[0]["traceId"])
        ids = {span.get("id") for span in spans}
        roots = [span for span in spans if span.get("parentId") not in ids]
        root = min(roots or spans, key=lambda span: int(span.get("timestamp", 0)))
        start = min(int(span.get("timestamp", 0)) for span in spans)
        end = max(int(span.get("timestamp", 0)) + int(span.get("duration", 0)) for span in spans)
        trace_errors = span_errors(spans)
        errors += trace_errors
        services.update(service_of(span) for span in spans)
        summaries.append(
            {
                "trace_id": trace_id,
                "root": {"name": root.get("name"), "service": service_of(root)},
                "start": _from_us(start).isoformat(),
                "duration_ms": round((end - start) / 1000, 3),
                "services": sorted({service_of(span) for span in spans}),
                "spans": len(spans),
                "errors": len(trace_errors),
                "zipkin_url": f"{zipkin_base}/traces/{trace_id}",
            }
        )
    summaries.sort(key=lambda summary: str(summary["start"]))
    errors.sort(key=lambda error: error.at_us)
    return {
        "services": dict(sorted(services.items())),
        "span_count": sum(summary["spans"] for summary in summaries),
        "error_count": len(errors),
        "traces": summaries,
        "errors": [
            {
                "trace_id": error.trace_id,
                "span_id": error.span_id,
                "service": error.service,
                "name": error.span,
                "error": error.message,
                "exception_type": error.exception_type,
                "http_status": error.http_status,
                "at": _from_us(error.at_us).isoformat(),
                "span_url": span_url(error.trace_id, error.span_id),
                "zipkin_url": zipkin_trace_url(error.trace_id),
            }
            for error in errors
        ],
    }


def zipkin_search_url(order_id: uuid.UUID | str, start: datetime, end: datetime) -> str:
    """The Zipkin UI's search for the order over its lifetime (a person's fallback).

    ``tagQuery`` rather than ``annotationQuery``: Lens turns an annotationQuery made only of
    autocomplete keys (order.id is one) into a chip plus an empty one, which finds nothing.
    """
    start_ms = int(start.timestamp() * 1000) - 60_000
    end_ms = int(end.timestamp() * 1000) + 60_000
    return (
        f"/zipkin/?tagQuery=order.id%3D{order_id}&lookback=range"
        f"&startTs={start_ms}&endTs={end_ms}&limit=100"
    )


def trace_ids_of(index: dict[str, Any], limit: int) -> list[str]:
    """Every trace id the Shop knows for the order, oldest step first, each once."""
    ids = [index.get("model_trace_id")]
    ids += [entry.get("trace_id") for entry in index.get("history", [])]
    ids += [event.get("trace_id") for event in index.get("published", [])]
    return [trace_id for trace_id in dict.fromkeys(ids) if trace_id][:limit]


def _hop_view(hop: Any) -> dict[str, Any]:
    consumers = []
    for consumer in hop.consumers:
        wait = (consumer["started_us"] - hop.published_us) / 1e6 if hop.published_us else None
        consumers.append(
            {
                "service": consumer["service"],
                "queue": consumer["queue"],
                "consumed_at": _from_us(consumer["started_us"]).isoformat(),
                "wait_s": round(wait, 3) if wait is not None else None,
                "duration_s": round(consumer["duration_us"] / 1e6, 3),
                "attempt": consumer["attempt"],
                "redelivered": consumer["redelivered"],
                "dead_lettered": consumer["dead_lettered"],
                "failed": consumer["failed"],
                "span_url": span_url(consumer["trace_id"], consumer["span_id"]),
            }
        )
    return {
        "message_id": hop.message_id,
        "exchange": hop.exchange or None,
        "routing_key": hop.routing_key,
        "publisher": hop.publisher,
        "published_at": _from_us(hop.published_us).isoformat() if hop.published_us else None,
        "span_url": span_url(hop.trace_id, hop.span_id) if hop.trace_id else None,
        "consumers": consumers,
    }


def _model_view(index: dict[str, Any], spans: list[Span]) -> dict[str, Any] | None:
    model = index.get("model")
    if not model:
        return None
    analysis = model.get("analysis") or {}
    view: dict[str, Any] = {
        "model_id": index.get("model_id"),
        "format": model.get("format"),
        "size_bytes": model.get("size_bytes"),
        "triangles": analysis.get("triangles"),
        "volume_cm3": analysis.get("volume_cm3"),
        "watertight": analysis.get("watertight"),
        "upload_s": None,
        "analysis_s": None,
        "span_url": None,
    }
    trace_id = index.get("model_trace_id")
    upload = [span for span in spans if span.get("traceId") == trace_id]
    if upload:
        root = min(upload, key=lambda span: int(span.get("timestamp", 0)))
        view["upload_s"] = round(int(root.get("duration", 0)) / 1e6, 3)
        view["span_url"] = span_url(str(trace_id), str(root.get("id")))
        analyses = [span for span in upload if "analy" in str(span.get("name", ""))]
        if analyses:
            view["analysis_s"] = round(max(int(s.get("duration", 0)) for s in analyses) / 1e6, 3)
    return view


def _timeline_spans(spans: list[Span], limit: int = 40) -> list[dict[str, Any]]:
    """The spans the timeline draws: the services' own work (not their HTTP client calls),
    errors first when there are more than ``limit``."""
    errors = {error.span_id for error in span_errors(spans)}
    chosen = [s for s in spans if s.get("kind") != "CLIENT" or s.get("id") in errors]
    chosen.sort(key=lambda s: (s.get("id") not in errors, int(s.get("timestamp", 0))))
    views = []
    for span in chosen[:limit]:
        start, length = int(span.get("timestamp", 0)), int(span.get("duration", 0))
        views.append(
            {
                "id": str(span.get("id")),
                "trace_id": str(span.get("traceId")),
                "name": str(span.get("name", "")),
                "service": service_of(span),
                "start": _from_us(start).isoformat(),
                "end": _from_us(start + length).isoformat(),
                "seconds": round(length / 1e6, 3),
                "error": span.get("id") in errors,
            }
        )
    return sorted(views, key=lambda view: view["start"])


def _printer(spans: list[Span], trace_id: str | None) -> str | None:
    for span in sorted(spans, key=lambda s: -int(s.get("timestamp", 0))):
        printer = (span.get("tags") or {}).get("printer")
        if printer and (trace_id is None or span.get("traceId") == trace_id):
            return str(printer)
    return None


class JourneyBuilder:
    """Reads the Shop, Zipkin and the live sources; owns none of the clients (the app does)."""

    def __init__(
        self,
        shop: httpx.AsyncClient,
        zipkin: httpx.AsyncClient,
        live: LiveSources,
        limits: dict[str, StatusLimit],
        concurrency: int = 8,
        max_traces: int = 200,
    ):
        self._shop = shop
        self._zipkin = zipkin
        self._live = live
        self._limits = limits
        self._concurrency = concurrency
        self._max_traces = max_traces

    async def index(self, order_id: uuid.UUID) -> dict[str, Any]:
        try:
            response = await self._shop.get(f"/api/v1/internal/orders/{order_id}/traces")
        except httpx.HTTPError as exc:
            raise DependencyFailed(f"the Shop API is unreachable: {exc}") from exc
        if response.status_code == 404:
            raise NotFound(f"no order {order_id}")
        raise_for_problem(response, "reading the order from the Shop API")
        index: dict[str, Any] = response.json()
        return index

    async def traces(self, trace_ids: list[str]) -> tuple[list[list[Span]], str | None]:
        """The traces found, in the order of ``trace_ids`` (a sampled-out or not yet stored one
        is simply absent), and a note when Zipkin could not be read."""
        gate = asyncio.Semaphore(self._concurrency)
        failures: list[str] = []

        async def some(ids: list[str]) -> list[list[Span]]:
            async with gate:
                try:
                    # Zipkin refuses traceMany with a single id (400: "use /api/v2/trace").
                    response = await (
                        self._zipkin.get(f"/api/v2/trace/{ids[0]}")
                        if len(ids) == 1
                        else self._zipkin.get(
                            "/api/v2/traceMany", params={"traceIds": ",".join(ids)}
                        )
                    )
                except httpx.HTTPError as exc:
                    failures.append(f"Zipkin is unreachable ({type(exc).__name__})")
                    return []
            if len(ids) == 1 and response.status_code == 404:
                return []  # not stored (sampled out or not yet in): absent, as traceMany says
            if response.status_code >= 400:
                failures.append(f"Zipkin answered {response.status_code}")
                return []
            if len(ids) == 1:
                return [response.json()]
            traces: list[list[Span]] = response.json()
            return traces

        reads = [
            trace_ids[first : first + TRACES_PER_READ]
            for first in range(0, len(trace_ids), TRACES_PER_READ)
        ]
        found = [trace for part in await asyncio.gather(*map(some, reads)) for trace in part]
        # Zipkin answers in no promised order, and writes a 128-bit id whose high half is zero
        # as 16 hex digits: compare the ids padded to 32.
        rank = {trace_id.lower().zfill(32): place for place, trace_id in enumerate(trace_ids)}
        found = [trace for trace in found if trace]
        found.sort(key=lambda trace: rank.get(str(trace[0].get("traceId")).zfill(32), len(rank)))
        note = f"traces are unavailable: {failures[0]}" if failures else None
        return found, note

    async def journey(self, order_id: uuid.UUID) -> dict[str, Any]:
        index = await self.index(order_id)
        status = str(index.get("status"))
        trace_ids = trace_ids_of(index, self._max_traces)
        waiting_task = None
        if status not in TERMINAL:
            waiting_task = asyncio.ensure_future(self._live.waiting_on(order_id, status))
        traces, note = await self.traces(trace_ids)
        waiting = await waiting_task if waiting_task is not None else None
        now = datetime.now(UTC)
        history = list(index.get("history", []))
        steps = steps_of(history)
        every_span = [span for trace in traces for span in trace]
        spans = business_spans(every_span)
        summary = summarise_traces([business_spans(trace) for trace in traces])
        hops = message_hops(spans)
        errors = span_errors(spans)
        final_trace = steps[-1].trace_id if steps else None
        verdict = decide(
            status,
            steps,
            index.get("reason"),
            errors,
            hops,
            waiting,
            self._limits,
            now,
            printer=_printer(spans, final_trace) or (waiting or {}).get("printer"),
        )
        created = steps[0].entered if steps else now
        end = steps[-1].left or now if steps else now
        return {
            "order_id": str(order_id),
            "status": status,
            "terminal": status in TERMINAL,
            "verdict": verdict,
            "model_id": index.get("model_id"),
            "created_at": created.isoformat(),
            "lifecycle_s": round((end - created).total_seconds(), 3),
            "statuses": [
                self._status_view(step, now, cause_of(every_span, step.trace_id, step.span_id))
                for step in steps
            ],
            "steps": timeline(history, now),
            "hops": [_hop_view(hop) for hop in hops],
            "model": _model_view(index, spans),
            "timeline_spans": _timeline_spans(spans),
            "traces_available": note is None,
            "traces_note": note,
            "trace_ids": trace_ids,
            **summary,
            "zipkin_search_url": zipkin_search_url(order_id, created, now),
        }

    def _status_view(self, step: Step, now: datetime, cause: Span | None) -> dict[str, Any]:
        """One status; ``service`` is the service whose span caused it (see ``cause_of``)."""
        limit = self._limits.get(step.status)
        seconds = step.seconds(now)
        cause_url = None
        if cause is not None:
            cause_url = span_url(str(cause.get("traceId")), str(cause.get("id")))
        return {
            "status": step.status,
            "entered_at": step.entered.isoformat(),
            "left_at": step.left.isoformat() if step.left else None,
            "duration_s": round(seconds, 3),
            "current": step.left is None,
            "limit_s": limit.seconds if limit else None,
            "over_limit": bool(limit and seconds > limit.seconds),
            "reason": step.reason,
            "service": service_of(cause) if cause is not None else None,
            "cause_span": str(cause.get("name", "")) if cause is not None else None,
            "cause_url": cause_url,
            "trace_id": step.trace_id,
            "span_url": span_url(step.trace_id, step.span_id) if step.trace_id else None,
            "zipkin_url": zipkin_trace_url(step.trace_id) if step.trace_id else None,
        }
