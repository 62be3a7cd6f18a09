"""The notifier's stored notifications as the support console shows them, newest first.

The notifier keeps every alert notification it received (``GET /api/v1/notifications`` on
127.0.0.1); the gateway reads a bounded number of them and shows each with its alert, status,
time, summary and the orders it names (an OrderStuck's waiting orders, an OrderFailed's failed
ones), each linked to its journey here, with the console's sentence where the notifier added
one. The notifier being away is said on the page, never a 500.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from html import escape
from typing import Any

import httpx

from alexandrite.common.readable import moment

__all__ = ["MAX_NOTIFICATIONS", "NotificationsReader", "notification_row", "notifications_body"]

# The most notifications one page or answer shows (the notifier's own limit is 500).
MAX_NOTIFICATIONS = 200
# The most orders listed per notification (the notifier names at most its enrichment_orders).
_MAX_ORDERS = 20
_MAX_TEXT = 1000


def _text(value: Any) -> str | None:
    return str(value)[:_MAX_TEXT] if value not in (None, "") else None


def _order_id(value: Any) -> str | None:
    """A real order id or nothing: only a UUID becomes a link."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def _named_orders(enrichment: dict[str, Any]) -> list[dict[str, Any]]:
    """Every order the notification names, in the notifier's order, each with its sentence."""
    verdicts: dict[str, str | None] = {}
    for order in enrichment.get("orders") or []:
        if isinstance(order, dict) and (order_id := _order_id(order.get("id"))):
            verdicts[order_id] = _text(order.get("verdict"))
    main = _order_id(enrichment.get("order_id"))
    if main is not None and not verdicts.get(main):
        verdicts[main] = _text(enrichment.get("verdict"))
    ids: list[str | None] = [main]
    ids += [_order_id(i) for i in enrichment.get("order_ids") or []]
    ids += list(verdicts)
    named: list[dict[str, Any]] = []
    for order_id in ids:
        if order_id is None or any(row["order_id"] == order_id for row in named):
            continue
        named.append(
            {
                "order_id": order_id,
                "journey_url": f"/orders/{order_id}",
                "verdict": verdicts.get(order_id),
            }
        )
    return named[:_MAX_ORDERS]


def notification_row(raw: dict[str, Any]) -> dict[str, Any]:
    """One notification of the notifier, as the console lists it."""
    annotations = raw.get("annotations") if isinstance(raw.get("annotations"), dict) else {}
    enrichment = raw.get("enrichment") if isinstance(raw.get("enrichment"), dict) else {}
    return {
        "id": raw.get("id"),
        "alertname": _text(raw.get("alertname")) or "unnamed",
        "status": _text(raw.get("status")) or "unknown",
        "severity": _text(raw.get("severity")),
        "service": _text(raw.get("service")),
        "starts_at": _text(raw.get("starts_at")),
        "received_at": _text(raw.get("received_at")),
        "summary": _text((annotations or {}).get("summary")),
        "verdict": _text((enrichment or {}).get("verdict")),
        "note": _text((enrichment or {}).get("note") or (enrichment or {}).get("error")),
        "orders": _named_orders(enrichment or {}),
    }


class NotificationsReader:
    """The notifier, seen from the gateway."""

    def __init__(self, notifier: httpx.AsyncClient) -> None:
        self._notifier = notifier

    async def latest(self, limit: int) -> list[dict[str, Any]] | str:
        """The newest ``limit`` notifications, or why they could not be read."""
        limit = max(1, min(limit, MAX_NOTIFICATIONS))
        try:
            response = await self._notifier.get("/api/v1/notifications", params={"limit": limit})
            response.raise_for_status()
            rows = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return f"notifications unavailable: the notifier did not answer ({type(exc).__name__})"
        if not isinstance(rows, list):
            return "notifications unavailable: the notifier answered something else than a list"
        listed = [notification_row(row) for row in rows[:limit] if isinstance(row, dict)]
        # Newest first whatever order they came in (the notifier's ids grow with arrival).
        listed.sort(key=lambda row: row["id"] if isinstance(row["id"], int) else -1, reverse=True)
        return listed


def _at(value: str | None) -> str:
    try:
        return moment(datetime.fromisoformat(value), datetime.now(UTC)) if value else "-"
    except ValueError:
        return "-"


def _orders_cell(row: dict[str, Any]) -> str:
    if not row["orders"]:
        return f'<span class="muted">{escape(row["note"] or "no order named")}</span>'
    items = []
    for order in row["orders"]:
        link = (
            f'<a class="journey" href="{escape(order["journey_url"])}">'
            f"{escape(order['order_id'][:8])}</a>"
        )
        items.append(f"{link}: {escape(order['verdict'])}" if order["verdict"] else link)
    return "<br>".join(items)


def notifications_body(rows: list[dict[str, Any]] | str) -> str:
    """The table of notifications (a string instead of rows: why they could not be read)."""
    intro = (
        '<p class="muted">The notifier\'s stored notifications, newest first; each order they '
        "name links to its journey.</p>"
    )
    if isinstance(rows, str):
        return intro + f'<p class="error" id="notifications-error">{escape(rows)}</p>'
    if not rows:
        return intro + '<p class="muted" id="notifications-empty">No notification yet.</p>'
    head = "".join(
        f"<th>{label}</th>" for label in ("alert", "status", "time", "summary", "orders")
    )
    body = []
    for row in rows:
        details = ", ".join(escape(part) for part in (row["severity"], row["service"]) if part)
        alert = f"<b>{escape(row['alertname'])}</b>"
        if details:
            alert += f' <span class="muted">({details})</span>'
        body.append(
            f'<tr class="notification status-{escape(row["status"])}">'
            f"<td>{alert}</td><td>{escape(row['status'])}</td>"
            f"<td>{escape(_at(row['received_at'] or row['starts_at']))}</td>"
            f"<td>{escape(row['summary'] or '')}</td><td>{_orders_cell(row)}</td></tr>"
        )
    return intro + f'<table id="notifications"><tr>{head}</tr>{"".join(body)}</table>'
