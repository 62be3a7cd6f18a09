"""The CRM's business metrics (names: the monitoring contract).

alexandrite_complaints_total
alexandrite_orders{status}, alexandrite_order_oldest_age_seconds{status}   reviews, at scrape
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alexandrite.common.status_metrics import OrderStatusCollector
from alexandrite.crm.store import Review, StatusChange

__all__ = ["CrmMetrics", "review_status_collector"]


class CrmMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.complaints = Counter(
            "alexandrite_complaints_total",
            "Complaints received from customers.",
            registry=registry,
        )


def review_status_collector(sessions: async_sessionmaker[AsyncSession]) -> OrderStatusCollector:
    """Reviews per status; in each open status, since when the oldest has been in it."""
    return OrderStatusCollector.from_history(sessions, Review, StatusChange)
