"""One span, on a page of its own: the answer to "open that exact span".

Zipkin's UI (Lens, 3.x) cannot open a trace at a given span: its trace page always selects the
root span and reads only the trace id from the URL. So the journey's span links come here: the
span read from Zipkin's API by its trace id, with its service, name, timing, error, tags and
events, the spans above it (each linked) and a link to the whole trace in Zipkin's UI.
Server-rendered, every value escaped, no script; bounded (a trace's spans are cut at
``MAX_SPANS``, tags and events at a few dozen, each value at ``_MAX_TEXT`` characters).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import escape
from typing import Any

from alexandrite.common.readable import duration, moment, yes_no
from alexandrite.gateway.span_reading import service_of, span_errors, span_events

__all__ = ["MAX_SPANS", "SPAN_ID", "TRACE_ID", "span_body", "span_view"]

TRACE_ID = re.compile(r"^[0-9a-f]{16}$|^[0-9a-f]{32}$")
SPAN_ID = re.compile(r"^[0-9a-f]{16}$")
MAX_SPANS = 5000
_MAX_ITEMS = 60
_MAX_TEXT = 2000
Span = dict[str, Any]


def _text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…"


def _from_us(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1e6, tz=UTC)


def _brief(span: Span) -> dict[str, str]:
    return {
        "span_id": str(span.get("id")),
        "service": service_of(span),
        "name": _text(span.get("name", "")),
    }


def span_view(spans: list[Span], span_id: str) -> dict[str, Any] | None:
    """What the page shows of ``span_id`` among the trace's ``spans`` (None: not in it)."""
    spans = spans[:MAX_SPANS]
    by_id = {str(span.get("id")): span for span in spans}
    span = by_id.get(span_id)
    if span is None:
        return None
    ancestors: list[dict[str, str]] = []
    parent, seen = by_id.get(str(span.get("parentId"))), {span_id}
    while parent is not None and str(parent.get("id")) not in seen and len(ancestors) < 50:
        seen.add(str(parent.get("id")))
        ancestors.insert(0, _brief(parent))
        parent = by_id.get(str(parent.get("parentId")))
    children = [_brief(s) for s in spans if str(s.get("parentId")) == span_id]
    errors = span_errors([span])
    tags = sorted((str(k), _text(v)) for k, v in (span.get("tags") or {}).items())
    events = [
        {"at": _from_us(at).isoformat(), "name": _text(name), "attributes": attributes}
        for at, name, attributes in span_events(span)
    ]
    return {
        "trace_id": str(span.get("traceId")),
        **_brief(span),
        "kind": span.get("kind"),
        "start": _from_us(int(span.get("timestamp", 0))).isoformat(),
        "duration_s": int(span.get("duration", 0)) / 1e6,
        "error": errors[0].message if errors else None,
        "exception_type": errors[0].exception_type if errors else None,
        "tags": tags[:_MAX_ITEMS],
        "events": events[:_MAX_ITEMS],
        "ancestors": ancestors,
        "children": children[:_MAX_ITEMS],
        "zipkin_url": f"/zipkin/traces/{span.get('traceId')}",
    }


def _span_link(trace_id: str, brief: dict[str, str]) -> str:
    url = f"/traces/{trace_id}/spans/{brief['span_id']}"
    return f'<a href="{escape(url)}">{escape(brief["service"])}: {escape(brief["name"])}</a>'


def _value(value: Any) -> str:
    """An event attribute as a person reads it (JSON's true/false/null are no Python words)."""
    if isinstance(value, bool):
        return yes_no(value)
    return "-" if value is None else _text(value)


def _attributes(attributes: dict[str, Any]) -> str:
    items = list(attributes.items())[:_MAX_ITEMS]
    return ", ".join(f"{escape(str(k))} = {escape(_value(v))}" for k, v in items)


def span_body(view: dict[str, Any]) -> str:
    trace_id = view["trace_id"]
    start = datetime.fromisoformat(view["start"])
    parts = [
        f'<p id="span-summary"><b id="span-service">{escape(view["service"])}</b>: '
        f'<b id="span-name">{escape(view["name"])}</b> '
        f'<span class="muted">({escape(str(view["kind"] or "internal").lower())})</span>, '
        f"started {escape(moment(start))}, took {escape(duration(view['duration_s']))}.</p>",
        f'<p>Span <code id="span-id">{escape(view["span_id"])}</code> of trace '
        f'<code id="trace-id">{escape(trace_id)}</code>: '
        f'<a id="zipkin-trace" href="{escape(view["zipkin_url"])}">the whole trace in Zipkin</a> '
        '<span class="muted">(Zipkin opens a trace at its root span; this page is the '
        "span)</span></p>",
    ]
    if view["error"]:
        kind = f"{view['exception_type']}: " if view["exception_type"] else ""
        parts.append(f'<p class="error" id="span-error">Error: {escape(kind + view["error"])}</p>')
    if view["ancestors"]:
        chain = " → ".join(_span_link(trace_id, brief) for brief in view["ancestors"])
        parts.append(f'<p id="span-ancestors">Called from: {chain}</p>')
    if view["children"]:
        below = ", ".join(_span_link(trace_id, brief) for brief in view["children"])
        parts.append(f'<p id="span-children">Then: {below}</p>')
    rows = "".join(
        f"<tr><td>{escape(key)}</td><td>{escape(value)}</td></tr>" for key, value in view["tags"]
    )
    parts.append(
        "<h3>Tags</h3>"
        + (f'<table id="span-tags">{rows}</table>' if rows else '<p class="muted">none</p>')
    )
    events = "".join(
        f"<tr><td>{escape(moment(datetime.fromisoformat(event['at'])))}</td>"
        f"<td>{escape(event['name'])}</td><td>{_attributes(event['attributes'])}</td></tr>"
        for event in view["events"]
    )
    parts.append(
        "<h3>Events</h3>"
        + (f'<table id="span-events">{events}</table>' if events else '<p class="muted">none</p>')
    )
    return "".join(parts)
