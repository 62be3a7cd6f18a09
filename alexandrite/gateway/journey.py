"""The order journey: the order's status history from the Shop API and its traces from Zipkin,
summarised for a support engineer (services, spans, errors, time per step, links to Zipkin)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx

from alexandrite.common.errors import DependencyFailed, NotFound
from alexandrite.common.http_client import raise_for_problem

__all__ = ["JourneyBuilder", "summarise_traces", "timeline", "zipkin_search_url"]

TERMINAL = frozenset({"rejected", "completed", "failed", "cancelled"})
Span = dict[str, Any]


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def timeline(history: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Each status with how long the order stayed in it (the current one: until now)."""
    steps: list[dict[str, Any]] = []
    ordered = sorted(history, key=lambda entry: _parse_time(str(entry["at"])))
    for index, entry in enumerate(ordered):
        start = _parse_time(str(entry["at"]))
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        if following is not None:
            end, current = _parse_time(str(following["at"])), False
        elif entry["status"] in TERMINAL:
            end, current = start, False
        else:
            end, current = now, True
        steps.append(
            {
                "status": entry["status"],
                "at": start.isoformat(),
                "duration_s": round((end - start).total_seconds(), 3),
                "current": current,
            }
        )
    return steps


def _service(span: Span) -> str:
    return str(span.get("localEndpoint", {}).get("serviceName", "unknown"))


def _error(span: Span) -> str | None:
    tags = span.get("tags", {})
    if "error" in tags:
        return str(tags["error"]) or "error"
    if tags.get("otel.status_code") == "ERROR":
        return str(tags.get("otel.status_description", "error"))
    return None


def summarise_traces(traces: list[list[Span]], zipkin_base: str = "/zipkin") -> dict[str, Any]:
    """Per trace: root, services, span and error counts, start and duration; plus totals."""
    summaries: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    services: Counter[str] = Counter()
    for spans in traces:
        if not spans:
            continue
        trace_id = str(spans[0]["traceId"])
        ids = {span.get("id") for span in spans}
        roots = [span for span in spans if span.get("parentId") not in ids]
        root = min(roots or spans, key=lambda span: int(span.get("timestamp", 0)))
        start = min(int(span.get("timestamp", 0)) for span in spans)
        end = max(int(span.get("timestamp", 0)) + int(span.get("duration", 0)) for span in spans)
        trace_errors = [
            {"trace_id": trace_id, "span_id": span.get("id"), "service": _service(span),
             "name": span.get("name"), "error": _error(span)}
            for span in spans
            if _error(span) is not None
        ]
        errors += trace_errors
        trace_services = sorted({_service(span) for span in spans})
        services.update(_service(span) for span in spans)
        summaries.append(
            {
                "trace_id": trace_id,
                "root": {"name": root.get("name"), "service": _service(root)},
                "start": datetime.fromtimestamp(start / 1e6, tz=UTC).isoformat(),
                "duration_ms": round((end - start) / 1000, 3),
                "services": trace_services,
                "spans": len(spans),
                "errors": len(trace_errors),
                "zipkin_url": f"{zipkin_base}/traces/{trace_id}",
            }
        )
    summaries.sort(key=lambda summary: str(summary["start"]))
    return {
        "services": dict(sorted(services.items())),
        "span_count": sum(summary["spans"] for summary in summaries),
        "error_count": len(errors),
        "traces": summaries,
        "errors": errors,
    }


def zipkin_search_url(order_id: uuid.UUID | str, start: datetime, end: datetime) -> str:
    """The Zipkin UI's search for the order over its lifetime.

    ``tagQuery`` rather than ``annotationQuery``: Lens turns an annotationQuery made only of
    autocomplete keys (order.id is one) into a chip plus an empty one, which finds nothing.
    """
    start_ms = int(start.timestamp() * 1000) - 60_000
    end_ms = int(end.timestamp() * 1000) + 60_000
    return (
        f"/zipkin/?tagQuery=order.id%3D{order_id}&lookback=range"
        f"&startTs={start_ms}&endTs={end_ms}&limit=100"
    )


class JourneyBuilder:
    """Reads the Shop API and Zipkin; owns neither client (the app closes them)."""

    def __init__(self, shop: httpx.AsyncClient, zipkin: httpx.AsyncClient, lookback_ms: int):
        self._shop = shop
        self._zipkin = zipkin
        self._lookback_ms = lookback_ms

    async def order(self, order_id: uuid.UUID) -> dict[str, Any]:
        try:
            response = await self._shop.get(f"/api/v1/orders/{order_id}")
        except httpx.HTTPError as exc:
            raise DependencyFailed(f"the Shop API is unreachable: {exc}") from exc
        if response.status_code == 404:
            raise NotFound(f"no order {order_id}")
        raise_for_problem(response, "reading the order from the Shop API")
        order: dict[str, Any] = response.json()
        return order

    async def traces(self, order_id: uuid.UUID) -> list[list[Span]]:
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        try:
            response = await self._zipkin.get(
                "/api/v2/traces",
                params={
                    "annotationQuery": f"order.id={order_id}",
                    "endTs": now_ms,
                    "lookback": self._lookback_ms,
                    "limit": 1000,
                },
            )
        except httpx.HTTPError as exc:
            raise DependencyFailed(f"Zipkin is unreachable: {exc}") from exc
        raise_for_problem(response, "searching Zipkin")
        traces: list[list[Span]] = response.json()
        return traces

    async def journey(self, order_id: uuid.UUID) -> dict[str, Any]:
        order = await self.order(order_id)
        traces = await self.traces(order_id)
        now = datetime.now(UTC)
        status = str(order.get("status"))
        steps = timeline(list(order.get("history", [])), now)
        created = datetime.fromisoformat(steps[0]["at"]) if steps else now
        return {
            "order_id": str(order_id),
            "status": status,
            "terminal": status in TERMINAL,
            "price": order.get("price"),
            "model_id": order.get("model_id"),
            "steps": steps,
            **summarise_traces(traces),
            "zipkin_search_url": zipkin_search_url(order_id, created, now),
        }
