"""What the notifier adds to an alert before delivering it.

For ``OrderStuck`` it asks the Shop which orders are in the alert's status, longest first, and
adds the oldest order's id and the console's one-sentence verdict on it, the ids of up to N
orders in that status with how long each has waited, and links: the Zipkin search by
``order.id`` and the gateway's journey page.

For ``OrderFailed`` it asks the Shop for the orders that failed most recently (at most N, those
that failed within the alert's window), each with its failure reason, the console's verdict
sentence ("Failed in production at 06:56:37: nozzle clog") and its journey link; the newest
one is the notification's ``order_id``.

A resolved notice carries what its firing notice found (the orders have moved on by then).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from alexandrite.common.http_client import ServiceClient
from alexandrite.common.readable import clock, duration, ended_stage

__all__ = ["Enricher", "OrderLookup", "failure_verdict", "order_links"]

ORDER_ALERTS = frozenset({"OrderStuck", "OrderFailed"})
# An OrderFailed without a window annotation looks this far back.
DEFAULT_FAILURE_WINDOW_S = 3600.0
# Alertmanager groups and repeats: an order that failed a little before the window still counts.
_WINDOW_SLACK_S = 300.0


class OrderLookup(ServiceClient):
    """The Shop, seen from the notifier: orders in a status, longest unchanged first."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        super().__init__(base_url, "shop", timeout_s=timeout_s)

    async def in_status(
        self, status: str, limit: int, oldest_first: bool = True
    ) -> list[dict[str, Any]]:
        """Longest unchanged first, or (``oldest_first=False``) the newest orders first."""
        response = await self.request(
            "GET",
            "/api/v1/orders",
            f"orders in status {status}",
            params={"status": status, "limit": limit, "oldest_first": str(oldest_first).lower()},
        )
        orders: list[dict[str, Any]] = response.json()
        return orders


def _entered_status(order: dict[str, Any], status: str) -> datetime:
    """When the order entered its current status (its last history entry for it)."""
    for entry in reversed(order.get("history") or []):
        if entry.get("status") == status:
            return datetime.fromisoformat(entry["at"])
    return datetime.fromisoformat(order["created_at"])


def order_links(order_id: str, zipkin_url: str, gateway_url: str) -> dict[str, str]:
    return {
        "zipkin": f"{zipkin_url}?annotationQuery={quote(f'order.id={order_id}', safe='')}",
        "journey": f"{gateway_url.rstrip('/')}/orders/{order_id}",
    }


def failure_verdict(order: dict[str, Any]) -> str:
    """The console's sentence for a failed order, as far as the Shop can tell (the journey adds
    the printer and the failing span): ``Failed in production at 06:56:37: nozzle clog``."""
    history = order.get("history") or []
    previous = str(history[-2]["status"]) if len(history) > 1 else "created"
    stage = ended_stage(previous)
    failed_at = _entered_status(order, "failed")
    reason = order.get("reason") or "no reason recorded"
    return f"Failed {stage} at {clock(failed_at)}: {reason}"


def _verdict(status: str, age_s: float, limit_s: float | None) -> str:
    """The support console's sentence for the oldest order, as far as the Shop can tell; the
    journey adds where it waits (the queue and its consumers, or the MES job)."""
    limit = f", limit {duration(limit_s)}" if limit_s is not None else ""
    stalled = ": STALLED" if limit_s is None or age_s >= limit_s else ""
    return f"Waiting {duration(age_s)} in `{status}`{limit}{stalled}; the journey shows where"


class Enricher:
    def __init__(
        self, orders: OrderLookup, zipkin_url: str, gateway_url: str, max_orders: int = 10
    ) -> None:
        self._orders = orders
        self._zipkin_url = zipkin_url
        self._gateway_url = gateway_url
        self._max_orders = max_orders

    async def enrich(
        self,
        alertname: str,
        status: str,
        labels: dict[str, Any],
        annotations: dict[str, Any],
        firing_enrichment: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The enrichment of one notification ({} when there is nothing to add)."""
        if alertname not in ORDER_ALERTS:
            return {}
        if alertname == "OrderStuck" and "status" not in labels:
            return {}
        if status == "resolved":
            return dict(firing_enrichment or {})
        if alertname == "OrderFailed":
            return await self._failed_orders(annotations.get("window_seconds"))
        return await self._stuck_orders(str(labels["status"]), annotations.get("limit_seconds"))

    async def _failed_orders(self, window_seconds: Any) -> dict[str, Any]:
        try:
            window = float(window_seconds)
        except (TypeError, ValueError):
            window = DEFAULT_FAILURE_WINDOW_S
        # Newest created first, bounded: the orders that failed lately are among them.
        orders = await self._orders.in_status("failed", self._max_orders, oldest_first=False)
        now = datetime.now(UTC)
        recent = sorted(
            (
                (_entered_status(order, "failed"), order)
                for order in orders
                if (now - _entered_status(order, "failed")).total_seconds()
                <= window + _WINDOW_SLACK_S
            ),
            key=lambda pair: pair[0],
            reverse=True,  # newest failure first
        )
        if not recent:
            return {
                "order_status": "failed",
                "order_ids": [],
                "orders": [],
                "note": "no order failed within the alert's window",
            }
        rows: list[dict[str, Any]] = []
        for failed_at, order in recent:
            order_id = str(uuid.UUID(str(order["id"])))
            rows.append(
                {
                    "id": order_id,
                    "failed_at": failed_at.isoformat(),
                    "reason": order.get("reason"),
                    "verdict": failure_verdict(order),
                    "journey_url": order_links(order_id, self._zipkin_url, self._gateway_url)[
                        "journey"
                    ],
                }
            )
        newest = rows[0]
        return {
            "order_status": "failed",
            "order_id": newest["id"],
            "verdict": newest["verdict"],
            "order_ids": [row["id"] for row in rows],
            "orders": rows,
            "links": order_links(newest["id"], self._zipkin_url, self._gateway_url),
        }

    async def _stuck_orders(self, status: str, limit_seconds: Any) -> dict[str, Any]:
        # The Shop mirrors every status of the CRM's reviews and the MES's jobs, so it answers
        # for every service's OrderStuck.
        orders = await self._orders.in_status(status, self._max_orders)
        now = datetime.now(UTC)
        waiting = sorted(
            (
                (now - _entered_status(order, status)).total_seconds(),
                str(uuid.UUID(str(order["id"]))),
            )
            for order in orders
        )
        waiting.reverse()  # longest first
        try:
            limit = float(limit_seconds)
        except (TypeError, ValueError):
            limit = None
        if not waiting:
            return {"order_status": status, "order_ids": [], "note": "no order in this status now"}
        oldest_age, oldest_id = waiting[0]
        return {
            "order_status": status,
            "order_id": oldest_id,
            "verdict": _verdict(status, oldest_age, limit),
            "order_age_seconds": round(oldest_age, 1),
            "order_ids": [order_id for _, order_id in waiting],
            "orders": [
                {
                    "id": order_id,
                    "age_seconds": round(age, 1),
                    "past_limit": limit is None or age >= limit,
                }
                for age, order_id in waiting
            ],
            "links": order_links(oldest_id, self._zipkin_url, self._gateway_url),
        }
