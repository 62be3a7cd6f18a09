"""Orders per status and the age of the oldest order in each non-terminal status, read from a
service's own table at scrape time, so a stuck order shows even when nothing else happens.

    alexandrite_orders{status}                      rows per status (0 for a status with none)
    alexandrite_order_oldest_age_seconds{status}    now − when the oldest row entered its status

Ages are computed by PostgreSQL (``now()``), so the service's clock plays no part.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alexandrite.common.metrics import ScrapeCollector
from alexandrite.common.order_status import TERMINAL, OrderStatus

__all__ = ["OrderStatusCollector"]


class OrderStatusCollector(ScrapeCollector):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        status: ColumnElement[Any],
        entered_status_at: ColumnElement[datetime],
        statuses: Iterable[str],
        terminal: Iterable[str],
    ) -> None:
        """``status``: the row's status column; ``entered_status_at``: when the row took it."""
        super().__init__()
        self._sessions = sessions
        self._statuses = [str(s) for s in statuses]
        terminal_names = {str(s) for s in terminal}
        self._open = [s for s in self._statuses if s not in terminal_names]
        self._counts = select(status, func.count()).group_by(status)
        self._oldest = (
            select(status, func.extract("epoch", func.now() - func.min(entered_status_at)))
            .where(status.in_(self._open))
            .group_by(status)
        )

    @classmethod
    def from_history(
        cls,
        sessions: async_sessionmaker[AsyncSession],
        rows: Any,
        history: Any,
    ) -> OrderStatusCollector:
        """For a table of orders (``id``, ``status``, ``created_at``) with a status history
        (``order_id``, ``status``, ``at``), following the shared order statuses: a row entered
        its status at the latest history entry for it, or at its creation."""
        entered = (
            select(func.max(history.at))
            .where(history.order_id == rows.id, history.status == rows.status)
            .scalar_subquery()
        )
        return cls(
            sessions,
            rows.__table__.c.status,
            func.coalesce(entered, rows.created_at),
            statuses=[status.value for status in OrderStatus],
            terminal=[status.value for status in TERMINAL],
        )

    async def read(self) -> Sequence[Metric]:
        async with self._sessions() as session:
            counts = {row[0]: int(row[1]) for row in await session.execute(self._counts)}
            oldest = {row[0]: float(row[1] or 0) for row in await session.execute(self._oldest)}
        orders = GaugeMetricFamily(
            "alexandrite_orders", "Orders (or jobs, reviews) per status.", labels=["status"]
        )
        for status in self._statuses:
            orders.add_metric([status], counts.get(status, 0))
        ages = GaugeMetricFamily(
            "alexandrite_order_oldest_age_seconds",
            "Time the oldest order in each non-terminal status has been in it (0 when none).",
            labels=["status"],
        )
        for status in self._open:
            ages.add_metric([status], max(oldest.get(status, 0.0), 0.0))
        return [orders, ages]
