"""What a support engineer needs out of Zipkin spans: business steps, errors, message hops.

Database statements are left out (the journey answers "where and why", not "which query"):
a span with a ``db.*`` tag or a statement-like name is skipped. Span events arrive from the
Collector's Zipkin exporter as annotations ``name|{json attributes}|dropped`` (or the SDK
exporter's ``"name":{json}``); both are read back into a name and a dictionary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Hop",
    "SpanError",
    "business_spans",
    "cause_of",
    "message_hops",
    "service_of",
    "span_errors",
    "span_events",
]

Span = dict[str, Any]
_STATEMENTS = ("select", "insert", "update", "delete", "begin", "commit", "rollback", "connect")


def service_of(span: Span) -> str:
    return str((span.get("localEndpoint") or {}).get("serviceName", "unknown"))


def _is_database(span: Span) -> bool:
    """A statement's own span: it names the database system. A request or consumer span that
    only counts its folded statements (``db.statement_count``) is business, and is kept."""
    tags = span.get("tags") or {}
    if "db.system" in tags or "db.system.name" in tags:
        return True
    first = str(span.get("name", "")).split(" ", 1)[0].lower()
    return first in _STATEMENTS


def business_spans(spans: list[Span]) -> list[Span]:
    return [span for span in spans if not _is_database(span)]


def cause_of(spans: list[Span], trace_id: str | None, span_id: str | None) -> Span | None:
    """The span of another service that led to this one, else the span itself (None: absent).

    The Shop records every status change, so the span it names is always the Shop's own (the
    consumer of the CRM's or the MES's event). What caused the change is the nearest ancestor
    of another service: the publish of that event. A change the Shop made itself (a customer's
    request) has no such ancestor and is its own cause. Bounded by the trace's size (a parent
    cycle in bad data ends the walk).
    """
    if not trace_id or not span_id:
        return None
    by_id = {str(span.get("id")): span for span in spans if str(span.get("traceId")) == trace_id}
    start = by_id.get(span_id)
    if start is None:
        return None
    own = service_of(start)
    current, seen = start, {span_id}
    while (parent := by_id.get(str(current.get("parentId")))) is not None:
        if service_of(parent) != own:
            return parent
        if str(parent.get("id")) in seen:
            break
        seen.add(str(parent.get("id")))
        current = parent
    return start


def span_events(span: Span) -> list[tuple[int, str, dict[str, Any]]]:
    """(timestamp µs, name, attributes) of each annotation."""
    events = []
    for annotation in span.get("annotations") or []:
        value = str(annotation.get("value", ""))
        attributes: dict[str, Any] = {}
        name = value
        brace = value.find("{")
        if brace >= 0:
            name = value[:brace].strip().strip('|:"').strip()
            try:
                parsed = json.loads(value[brace : value.rfind("}") + 1])
                attributes = parsed if isinstance(parsed, dict) else {}
            except ValueError:
                name = value
        events.append((int(annotation.get("timestamp", 0)), name, attributes))
    return events


@dataclass(frozen=True)
class SpanError:
    """One failed span, with the most telling message it carries."""

    trace_id: str
    span_id: str
    service: str
    span: str
    at_us: int
    message: str
    exception_type: str | None = None
    http_status: str | None = None


def _problem_detail(attributes: dict[str, Any]) -> str | None:
    try:
        body = json.loads(str(attributes.get("problem.body", "")))
    except ValueError:
        return None
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail) if detail else None


def span_errors(spans: list[Span]) -> list[SpanError]:
    """Spans with status ERROR, an exception event or a problem+json answer, oldest first.

    The message prefers what a person wrote: the exception's message, the problem's detail,
    the span's status description, then the bare error tag.
    """
    found = []
    for span in spans:
        tags = span.get("tags") or {}
        exception_type = exception_message = problem = None
        for _, name, attributes in span_events(span):
            if name == "exception":
                exception_type = attributes.get("exception.type")
                exception_message = attributes.get("exception.message")
            elif name == "http.problem":
                problem = _problem_detail(attributes) or attributes.get("problem.title")
        failed = tags.get("otel.status_code") == "ERROR" or "error" in tags
        if not (failed or exception_message or problem):
            continue
        description = tags.get("otel.status_description") or tags.get("error")
        message = exception_message or problem or description or "error (no message recorded)"
        found.append(
            SpanError(
                trace_id=str(span.get("traceId", "")),
                span_id=str(span.get("id", "")),
                service=service_of(span),
                span=str(span.get("name", "")),
                at_us=int(span.get("timestamp", 0)),
                message=str(message),
                exception_type=str(exception_type) if exception_type else None,
                http_status=tags.get("http.response.status_code"),
            )
        )
    found.sort(key=lambda error: error.at_us)
    return found


@dataclass
class Hop:
    """One message: its publish and each consumer's processing of it."""

    message_id: str
    routing_key: str
    exchange: str
    published_us: int | None = None
    publisher: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    consumers: list[dict[str, Any]] = field(default_factory=list)


def message_hops(spans: list[Span]) -> list[Hop]:
    """Messages of these spans, matched by ``messaging.message.id``, oldest publish first."""
    hops: dict[str, Hop] = {}
    for span in spans:
        tags = span.get("tags") or {}
        message_id = tags.get("messaging.message.id")
        if tags.get("messaging.system") != "rabbitmq" or not message_id:
            continue
        destination = str(tags.get("messaging.destination.name", ""))
        routing_key = str(tags.get("messaging.rabbitmq.destination.routing_key", ""))
        hop = hops.setdefault(message_id, Hop(message_id, routing_key, ""))
        hop.routing_key = hop.routing_key or routing_key
        kind = str(span.get("kind", ""))
        operation = tags.get("messaging.operation.type", "")
        if kind == "PRODUCER" or operation in {"send", "publish"}:
            hop.exchange = destination.split(":", 1)[0]
            hop.published_us = int(span.get("timestamp", 0))
            hop.publisher = service_of(span)
            hop.trace_id, hop.span_id = str(span.get("traceId")), str(span.get("id"))
        elif kind == "CONSUMER" or operation == "process":
            hop.consumers.append(
                {
                    "service": service_of(span),
                    "queue": tags.get("messaging.consumer.group.name") or destination,
                    "started_us": int(span.get("timestamp", 0)),
                    "duration_us": int(span.get("duration", 0)),
                    "attempt": int(tags.get("messaging.message.delivery_attempt", 1) or 1),
                    "redelivered": str(tags.get("messaging.rabbitmq.redelivered")).lower()
                    == "true",
                    "dead_lettered": any(
                        name == "message.dead_lettered" for _, name, _ in span_events(span)
                    ),
                    "failed": tags.get("otel.status_code") == "ERROR",
                    "trace_id": str(span.get("traceId")),
                    "span_id": str(span.get("id")),
                }
            )
    ordered = sorted(hops.values(), key=lambda hop: hop.published_us or 0)
    return ordered
