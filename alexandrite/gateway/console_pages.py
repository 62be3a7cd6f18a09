"""The support console's pages: the home page (search box and the three lists) and the journey.

Server-rendered HTML, every value escaped, the timeline an inline SVG drawn by the server (the
CSP allows no script). Times and durations as a person reads them; no Python literals.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from typing import Any

from alexandrite.common.readable import duration, moment, yes_no
from alexandrite.gateway.journey import span_url
from alexandrite.gateway.timeline_svg import timeline_svg

__all__ = ["home_body", "journey_body"]

_LIST_TITLES = {
    "stalled": "Stalled now (past their limit, longest first)",
    "failed": "Failed or rejected in the last 24 h",
    "slowest": "Slowest finished today",
}


def _at(value: str | None) -> str:
    return moment(datetime.fromisoformat(value) if value else None, datetime.now(UTC))


def _link(url: str | None, label: str, element_id: str | None = None) -> str:
    if not url:
        return escape(label)
    attribute = f' id="{escape(element_id)}"' if element_id else ""
    return f'<a{attribute} href="{escape(url)}">{escape(label)}</a>'


def _table(
    rows: list[dict[str, Any]],
    columns: list[tuple[str, Callable[[dict[str, Any]], str]]],
    table_id: str,
    empty: str,
) -> str:
    if not rows:
        return f'<p class="muted" id="{table_id}-empty">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(label)}</th>" for label, _ in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(row)}</td>" for _, cell in columns) + "</tr>" for row in rows
    )
    return f'<table id="{table_id}"><tr>{head}</tr>{body}</table>'


def _list_table(view: str, rows: list[dict[str, Any]]) -> str:
    columns: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("order", lambda r: _link(r["journey_url"], r["order_id"][:8])),
        ("status", lambda r: escape(r["status"])),
        ("since", lambda r: escape(_at(r["since"]))),
    ]
    if view == "stalled":
        columns += [
            ("waiting", lambda r: escape(duration(r["in_status_s"]))),
            ("limit", lambda r: escape(duration(r["limit_s"]))),
        ]
    elif view == "failed":
        columns.append(("reason", lambda r: escape(r["reason"] or "no reason recorded")))
    else:
        columns.append(("took", lambda r: escape(duration(r.get("lifecycle_s")))))
    return _table(rows, columns, f"list-{view}", "none")


def home_body(lists: dict[str, list[dict[str, Any]] | str]) -> str:
    """The search box, then each list (a string instead of rows: why it could not be read)."""
    parts = [
        '<form method="get" action="/orders/lookup"><label>Order id (full or a unique prefix) '
        '<input id="order-search" name="order_id" size="40" required autofocus></label>'
        '<button type="submit">Show the journey</button></form>',
        '<p><a id="zipkin" href="/zipkin/">Zipkin: search traces</a> · '
        '<a id="notifications-link" href="/notifications">Notifications (alerts, each order '
        "linked to its journey)</a></p>",
    ]
    for view, title in _LIST_TITLES.items():
        rows = lists.get(view, [])
        parts.append(f'<h3 id="title-{view}">{escape(title)}</h3>')
        if isinstance(rows, str):
            parts.append(f'<p class="error">{escape(rows)}</p>')
        else:
            parts.append(_list_table(view, rows))
    return "".join(parts)


def _waiting(waiting: dict[str, Any] | None) -> str:
    if not waiting:
        return ""
    cells = [
        f"<b>{escape(str(waiting.get('service')))}</b> is expected to "
        f"{escape(str(waiting.get('does')))}"
    ]
    if waiting.get("queue"):
        if waiting.get("available"):
            cells.append(
                f'queue <code id="waiting-queue">{escape(waiting["queue"])}</code>: '
                f'<span id="waiting-ready">{waiting["ready"]}</span> ready, '
                f"{waiting['unacked']} unacked, "
                f'<span id="waiting-consumers">{waiting["consumers"]}</span> consumers'
            )
        else:
            cells.append(escape(str(waiting.get("error"))))
    elif "job_id" in waiting:
        job = waiting.get("job_id")
        cells.append(
            f"MES job {escape(str(job)[:8]) if job else 'none yet'}, "
            f"{escape(str(waiting.get('job_status') or 'no job'))}, printer "
            f"{escape(str(waiting.get('printer') or 'not assigned'))}"
        )
    elif waiting.get("error"):
        cells.append(escape(str(waiting["error"])))
    return f'<p id="waiting-on">Waiting on: {"; ".join(cells)}</p>'


def _cause(row: dict[str, Any]) -> str:
    """The service whose span caused the status, linked to that span; its span's name."""
    if row.get("service") is None:
        if row.get("zipkin_url"):
            return _link(row["zipkin_url"], "trace (not read yet)")
        return "-"
    link = _link(row.get("cause_url"), row["service"], f"cause-{row['status']}")
    return f'{link} <span class="muted">{escape(row.get("cause_span") or "")}</span>'


def _statuses(journey: dict[str, Any]) -> str:
    def over(row: dict[str, Any]) -> str:
        if row["limit_s"] is None:
            return "no limit"
        label = duration(row["limit_s"])
        return f'<b class="error">over {escape(label)}</b>' if row["over_limit"] else escape(label)

    return _table(
        journey["statuses"],
        [
            ("status", lambda r: escape(r["status"]) + (" (now)" if r["current"] else "")),
            ("entered", lambda r: escape(_at(r["entered_at"]))),
            ("left", lambda r: escape(_at(r["left_at"])) if r["left_at"] else "-"),
            ("time in status", lambda r: escape(duration(r["duration_s"]))),
            ("limit", over),
            ("caused by", _cause),
            ("reason", lambda r: escape(r["reason"] or "")),
        ],
        "statuses",
        "no status recorded",
    )


def _hops(journey: dict[str, Any]) -> str:
    rows = []
    for hop in journey["hops"]:
        consumers = hop["consumers"] or [None]
        for consumer in consumers:
            rows.append({"hop": hop, "consumer": consumer})

    def consumed(row: dict[str, Any]) -> str:
        consumer = row["consumer"]
        if consumer is None:
            return '<b class="error">not consumed (in the traces read)</b>'
        flags = []
        if consumer["attempt"] > 1 or consumer["redelivered"]:
            flags.append(f"attempt {consumer['attempt']}")
        if consumer["dead_lettered"]:
            flags.append("dead-lettered")
        if consumer["failed"]:
            flags.append("failed")
        text = (
            f"{consumer['service']} from {consumer['queue']} at {_at(consumer['consumed_at'])}"
            f", waited {duration(consumer['wait_s'])}"
        )
        return _link(consumer["span_url"], text) + (
            f' <b class="error">{escape(", ".join(flags))}</b>' if flags else ""
        )

    return _table(
        rows,
        [
            ("message", lambda r: escape(r["hop"]["routing_key"])),
            ("exchange", lambda r: escape(r["hop"]["exchange"] or "-")),
            (
                "published",
                lambda r: _link(
                    r["hop"]["span_url"],
                    f"{r['hop']['publisher'] or '?'} at {_at(r['hop']['published_at'])}",
                ),
            ),
            ("consumed", consumed),
        ],
        "hops",
        "no message found in the traces",
    )


def _model(model: dict[str, Any] | None) -> str:
    if not model:
        return '<p class="muted">No model uploaded.</p>'
    size = model.get("size_bytes")
    triangles, volume = model.get("triangles"), model.get("volume_cm3")
    facts = [
        f"format {model.get('format') or 'unknown'}",
        f"{size / 1024:.1f} KiB" if isinstance(size, int | float) else "size unknown",
        f"{triangles} triangles" if triangles is not None else "triangles not counted",
        # An open mesh encloses no volume: the analysis leaves it out rather than guess.
        f"volume {volume} cm³"
        if volume is not None
        else (
            "no volume (the mesh is not closed)"
            if model.get("watertight") is False
            else "volume unknown"
        ),
        f"watertight: {yes_no(model.get('watertight'))}",
        f"upload {duration(model.get('upload_s'))}",
        f"analysis {duration(model.get('analysis_s'))}",
    ]
    link = _link(model.get("span_url"), "Model")
    return f'<p id="model">{link}: {escape(", ".join(facts))}</p>'


def _errors(journey: dict[str, Any]) -> str:
    return _table(
        journey["errors"],
        [
            ("at", lambda r: escape(_at(r["at"]))),
            ("service", lambda r: escape(r["service"])),
            ("span", lambda r: _link(r["span_url"], r["name"])),
            (
                "error",
                lambda r: escape(
                    (f"{r['exception_type']}: " if r.get("exception_type") else "") + r["error"]
                ),
            ),
        ],
        "errors",
        "no error recorded",
    )


def _traces(journey: dict[str, Any]) -> str:
    return _table(
        journey["traces"],
        [
            ("trace", lambda r: _link(r["zipkin_url"], r["trace_id"][:16])),
            ("root", lambda r: escape(f"{r['root']['service']}: {r['root']['name']}")),
            ("start", lambda r: escape(_at(r["start"]))),
            ("took", lambda r: escape(duration(r["duration_ms"] / 1000))),
            ("spans", lambda r: str(r["spans"])),
            ("errors", lambda r: str(r["errors"])),
        ],
        "traces",
        "no trace found",
    )


def journey_body(journey: dict[str, Any]) -> str:
    verdict = journey["verdict"]
    state = escape(verdict["state"])
    parts = [
        f'<p class="verdict state-{state}" id="verdict">{escape(verdict["summary"])}</p>',
        f'<p>Order <code id="order-id">{escape(journey["order_id"])}</code>, status '
        f'<b id="status">{escape(journey["status"])}</b>, state <b id="state">{state}</b>, '
        f"created {escape(_at(journey['created_at']))}, "
        f"{'took' if journey['terminal'] else 'running for'} "
        f"{escape(duration(journey['lifecycle_s']))}.</p>",
    ]
    if verdict.get("reason"):
        parts.append(f'<p>Reason: <b id="reason">{escape(verdict["reason"])}</b></p>')
    step = verdict.get("step")
    if step and step.get("span_id") and verdict["state"] in {"failed", "rejected"}:
        url = span_url(step["trace_id"], step["span_id"])
        parts.append(
            f"<p>{_link(url, 'Open the failing span', 'step-link')} "
            f"({escape(str(step['service']))}, {escape(str(step['span']))}; read from Zipkin, "
            f"with a link to its whole trace there)</p>"
        )
    parts.append(_waiting(verdict.get("waiting_on")))
    if journey.get("traces_note"):
        parts.append(
            f'<p class="error" id="traces-note">{escape(journey["traces_note"])}; '
            "the status history below comes from the Shop.</p>"
        )
    parts.append("<h3>Timeline</h3>" + timeline_svg(journey, journey.get("timeline_spans", [])))
    parts.append("<h3>Statuses</h3>" + _statuses(journey))
    parts.append("<h3>Messages</h3>" + _hops(journey))
    parts.append("<h3>Model</h3>" + _model(journey.get("model")))
    parts.append(f"<h3>Errors ({journey['error_count']})</h3>" + _errors(journey))
    parts.append(
        f"<h3>Traces ({len(journey['traces'])}, {journey['span_count']} spans)</h3>"
        + _traces(journey)
    )
    parts.append(
        f"<p>{_link(journey['zipkin_search_url'], 'Search it in Zipkin', 'zipkin-search')}</p>"
    )
    return "".join(parts)
