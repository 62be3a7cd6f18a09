"""The Shop's business metrics (names: the monitoring contract).

alexandrite_orders_created_total
alexandrite_orders_finished_total{final_status}   rejected | completed | failed | cancelled
alexandrite_order_processing_seconds              creation → terminal status
alexandrite_order_status_seconds{status}          time in a status, observed when it is left
alexandrite_orders{status}, alexandrite_order_oldest_age_seconds{status}   (at scrape time)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alexandrite.common.status_metrics import OrderStatusCollector
from alexandrite.shop.domain import TERMINAL, OrderStatus
from alexandrite.shop.store import Order, StatusChange

__all__ = ["PROCESSING_BUCKETS", "STATUS_BUCKETS", "ShopMetrics", "order_status_collector"]

PROCESSING_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# A status can be left within a second (submitted → in_review): finer at the low end.
STATUS_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None or start.tzinfo is None or end.tzinfo is None:
        return None
    # Events may carry a time slightly before the last change: never a negative duration.
    return max((end - start).total_seconds(), 0.0)


class ShopMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.created = Counter(
            "alexandrite_orders_created_total", "Orders created.", registry=registry
        )
        self.finished = Counter(
            "alexandrite_orders_finished_total",
            "Orders that reached a terminal status, by that status.",
            ["final_status"],
            registry=registry,
        )
        for status in sorted(TERMINAL):
            self.finished.labels(final_status=status.value)
        self.processing = Histogram(
            "alexandrite_order_processing_seconds",
            "Time from an order's creation to its terminal status.",
            buckets=PROCESSING_BUCKETS,
            registry=registry,
        )
        self.status_time = Histogram(
            "alexandrite_order_status_seconds",
            "Time an order spent in a status, observed when it left it.",
            ["status"],
            buckets=STATUS_BUCKETS,
            registry=registry,
        )
        for status in OrderStatus:
            if status not in TERMINAL:
                self.status_time.labels(status=status.value)

    def transition(
        self,
        old: str | None,
        new: OrderStatus,
        old_entered_at: datetime | None,
        at: datetime,
        created_at: datetime | None,
    ) -> Callable[[], None]:
        """What to observe for one status change; run it once the change is committed."""

        def observe() -> None:
            if old is None:
                if new is OrderStatus.CREATED:
                    self.created.inc()
            else:
                in_old = _seconds(old_entered_at, at)
                if in_old is not None:
                    self.status_time.labels(status=old).observe(in_old)
            if new in TERMINAL:
                self.finished.labels(final_status=new.value).inc()
                processing = _seconds(created_at, at)
                if processing is not None:
                    self.processing.observe(processing)

        return observe


def order_status_collector(sessions: async_sessionmaker[AsyncSession]) -> OrderStatusCollector:
    """Orders per status; in each open status, since when the oldest order has been in it."""
    return OrderStatusCollector.from_history(sessions, Order, StatusChange)
