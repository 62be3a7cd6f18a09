"""What the notifier adds to an alert before delivering it.

For ``OrderStuck`` it asks the Shop which orders are in the alert's status, longest first, and
adds the oldest order's id and the console's one-sentence verdict on it, the ids of up to N
orders in that status with how long each has waited, and links: the Zipkin search by
``order.id`` and the gateway's journey page. A resolved notice carries what its firing notice
found (the order has moved on by then).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from alexandrite.common.http_client import ServiceClient
from alexandrite.common.readable import duration

__all__ = ["Enricher", "OrderLookup", "order_links"]

ORDER_ALERTS = frozenset({"OrderStuck"})


class OrderLookup(ServiceClient):
    """The Shop, seen from the notifier: orders in a status, longest unchanged first."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        super().__init__(base_url, "shop", timeout_s=timeout_s)

    async def in_status(self, status: str, limit: int) -> list[dict[str, Any]]:
        response = await self.request(
            "GET",
            "/api/v1/orders",
            f"orders in status {status}",
            params={"status": status, "limit": limit, "oldest_first": "true"},
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
        if alertname not in ORDER_ALERTS or "status" not in labels:
            return {}
        if status == "resolved":
            return dict(firing_enrichment or {})
        return await self._stuck_orders(str(labels["status"]), annotations.get("limit_seconds"))

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
