"""The console's lists: orders stalled now, failed or rejected in the last 24 h, slowest today.

Read from the Shop's order list (it mirrors every status of the CRM and the MES), one call per
status at once, each bounded; the limits are the OrderStuck alert's own.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from alexandrite.common.errors import DependencyFailed, InvalidInput
from alexandrite.common.http_client import raise_for_problem
from alexandrite.common.status_limits import StatusLimit

__all__ = ["VIEWS", "OrderLists", "console_lists", "rows_for"]

VIEWS = ("stalled", "failed", "slowest")
_PER_STATUS = 200
_SHOWN = 50


def _entered(order: dict[str, Any]) -> datetime:
    """When the order entered its current status (its newest history entry)."""
    moments = [datetime.fromisoformat(str(h["at"])) for h in order.get("history") or []]
    return max(moments) if moments else datetime.fromisoformat(str(order["created_at"]))


def _row(order: dict[str, Any], now: datetime, limit: StatusLimit | None) -> dict[str, Any]:
    since = _entered(order)
    return {
        "order_id": str(order["id"]),
        "status": order["status"],
        "since": since.isoformat(),
        "in_status_s": round((now - since).total_seconds(), 3),
        "limit_s": limit.seconds if limit is not None else None,
        "reason": order.get("reason"),
        "journey_url": f"/orders/{order['id']}",
    }


def rows_for(
    view: str,
    orders: list[dict[str, Any]],
    limits: dict[str, StatusLimit],
    now: datetime,
) -> list[dict[str, Any]]:
    """The rows of one list from the Shop's orders (pure, for the unit tests)."""
    if view == "stalled":
        rows = [_row(order, now, limits.get(order["status"])) for order in orders]
        stalled = [r for r in rows if r["limit_s"] is not None and r["in_status_s"] > r["limit_s"]]
        return sorted(stalled, key=lambda row: -row["in_status_s"])[:_SHOWN]
    if view == "failed":
        rows = [_row(order, now, None) for order in orders]
        recent = [r for r in rows if now - datetime.fromisoformat(r["since"]) <= timedelta(1)]
        return sorted(recent, key=lambda row: row["since"], reverse=True)[:_SHOWN]
    rows = []
    for order in orders:
        finished = _entered(order)
        if finished.astimezone(UTC).date() != now.date():
            continue
        row = _row(order, now, None)
        row["lifecycle_s"] = round(
            (finished - datetime.fromisoformat(str(order["created_at"]))).total_seconds(), 3
        )
        rows.append(row)
    return sorted(rows, key=lambda row: -row["lifecycle_s"])[:_SHOWN]


class OrderLists:
    def __init__(self, shop: httpx.AsyncClient, limits: dict[str, StatusLimit]):
        self._shop = shop
        self._limits = limits

    async def _orders(self, status: str, oldest_first: bool) -> list[dict[str, Any]]:
        params: dict[str, str | int] = {
            "status": status,
            "limit": _PER_STATUS,
            "oldest_first": str(oldest_first).lower(),
        }
        try:
            response = await self._shop.get("/api/v1/orders", params=params)
        except httpx.HTTPError as exc:
            raise DependencyFailed(f"the Shop API is unreachable: {exc}") from exc
        raise_for_problem(response, f"listing {status} orders in the Shop API")
        orders: list[dict[str, Any]] = response.json()
        return orders

    async def view(self, view: str) -> list[dict[str, Any]]:
        if view not in VIEWS:
            raise InvalidInput(f"unknown list {view!r}: choose one of {', '.join(VIEWS)}")
        statuses = {
            "stalled": (list(self._limits), True),
            "failed": (["failed", "rejected"], False),
            "slowest": (["completed"], False),
        }[view]
        found = await asyncio.gather(*(self._orders(s, statuses[1]) for s in statuses[0]))
        orders = [order for batch in found for order in batch]
        return rows_for(view, orders, self._limits, datetime.now(UTC))

    async def find(self, prefix: str) -> list[str]:
        """Order ids starting with ``prefix`` (at most two: one means it is unique)."""
        try:
            response = await self._shop.get("/api/v1/internal/orders", params={"id_prefix": prefix})
        except httpx.HTTPError as exc:
            raise DependencyFailed(f"the Shop API is unreachable: {exc}") from exc
        raise_for_problem(response, "searching orders by id prefix in the Shop API")
        ids: list[str] = response.json()
        return ids


async def console_lists(lists: OrderLists) -> dict[str, list[dict[str, Any]] | str]:
    """The home page's three lists; a list that cannot be read says why instead."""
    found = await asyncio.gather(*(lists.view(view) for view in VIEWS), return_exceptions=True)
    result: dict[str, list[dict[str, Any]] | str] = {}
    for view, rows in zip(VIEWS, found, strict=True):
        if isinstance(rows, BaseException):
            if not isinstance(rows, Exception):
                raise rows
            result[view] = f"this list is unavailable: {rows}"
        else:
            result[view] = rows
    return result
