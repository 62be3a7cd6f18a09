"""The MES's metrics (names: the monitoring contract).

alexandrite_orders{status}, alexandrite_order_oldest_age_seconds{status}
    production jobs per status, and since when the oldest has been in each open status
    (queued: created; in_production: started)
alexandrite_print_overrun_ratio
    the worst printing job's time so far over its expected print time (from its model's
    volume and the print speed settings); 0 when nothing prints. Alert: PrintJobOverdue
alexandrite_print_jobs_recovered_total{outcome}
    prints found without a live process: resumed, failed, or released (a printer held for
    a job whose model was still being checked)
alexandrite_mes_database_retries_total
    writes retried because the database was unreachable
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alexandrite.common.metrics import ScrapeCollector
from alexandrite.common.status_metrics import OrderStatusCollector
from alexandrite.mes.domain import TERMINAL, JobStatus, PrintTimes, overrun_ratio
from alexandrite.mes.store import Job

__all__ = ["MesMetrics", "PrintOverrunCollector", "job_status_collector"]

RECOVERY_OUTCOMES = ("resumed", "failed", "released")


class MesMetrics:
    """The counters the MES handlers move, on the service's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.recovered = Counter(
            "alexandrite_print_jobs_recovered",
            "Prints found without a live process driving them, by what the MES did.",
            ["outcome"],
            registry=registry,
        )
        for outcome in RECOVERY_OUTCOMES:
            self.recovered.labels(outcome)
        self.database_retries = Counter(
            "alexandrite_mes_database_retries",
            "MES writes retried because the database was unreachable.",
            registry=registry,
        )


def job_status_collector(sessions: async_sessionmaker[AsyncSession]) -> OrderStatusCollector:
    return OrderStatusCollector(
        sessions,
        Job.__table__.c.status,
        # A queued job has not started: its wait began when it was queued (created).
        func.coalesce(Job.started_at, Job.created_at),
        statuses=[status.value for status in JobStatus],
        terminal=[status.value for status in TERMINAL],
    )


class PrintOverrunCollector(ScrapeCollector):
    """``alexandrite_print_overrun_ratio``, read from the jobs table at scrape time, so a print
    that nothing drives any more still shows (and grows)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], print_times: PrintTimes) -> None:
        super().__init__()
        self._sessions = sessions
        self._print_times = print_times
        # One row per printing job: at most one per printer.
        self._printing = select(Job.started_at, Job.volume_cm3, Job.quantity).where(
            Job.status == JobStatus.IN_PRODUCTION.value, Job.started_at.is_not(None)
        )

    async def read(self) -> Sequence[Metric]:
        async with self._sessions() as session:
            rows = (await session.execute(self._printing)).all()
        now = datetime.now(UTC)
        worst = max(
            (
                overrun_ratio(
                    (now - started_at).total_seconds(),
                    self._print_times.expected_s(volume_cm3, quantity),
                )
                for started_at, volume_cm3, quantity in rows
            ),
            default=0.0,
        )
        gauge = GaugeMetricFamily(
            "alexandrite_print_overrun_ratio",
            "The worst printing job's time so far over its expected print time (0: none).",
        )
        gauge.add_metric([], worst)
        return [gauge]
