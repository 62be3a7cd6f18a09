"""The metrics every service has: spans exported and lost, unpublished outbox rows, faults."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alexandrite.common.faults import FAULTS, Faults
from alexandrite.common.metrics import ScrapeCollector
from alexandrite.common.telemetry.exporters import ExportCounters

__all__ = ["FaultCollector", "OutboxPendingCollector", "SpanExportCollector"]


class SpanExportCollector(Collector):
    """``alexandrite_spans_exported_total`` and ``alexandrite_spans_failed_total``."""

    def __init__(self, counters: ExportCounters) -> None:
        self._counters = counters

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "alexandrite_spans_exported",
            "Spans the exporter handed to the Collector successfully.",
            value=self._counters.exported,
        )
        yield CounterMetricFamily(
            "alexandrite_spans_failed",
            "Spans lost: the export failed or timed out (the Collector down or refusing).",
            value=self._counters.failed,
        )
        yield GaugeMetricFamily(
            "alexandrite_spans_buffered",
            "Spans waiting in the service's retry buffer for the Collector to take them.",
            value=self._counters.buffered,
        )
        yield CounterMetricFamily(
            "alexandrite_spans_retried",
            "Spans whose export failed once and was tried again from the retry buffer.",
            value=self._counters.retried,
        )


class OutboxPendingCollector(ScrapeCollector):
    """``alexandrite_outbox_pending``: events committed but not yet published to RabbitMQ."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], outbox: Table) -> None:
        super().__init__()
        self._sessions = sessions
        self._query = (
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )

    async def read(self) -> Sequence[Metric]:
        async with self._sessions() as session:
            pending = (await session.execute(self._query)).scalar_one()
        return [
            GaugeMetricFamily(
                "alexandrite_outbox_pending",
                "Outbox rows not yet published to RabbitMQ.",
                value=pending,
            )
        ]


class FaultCollector(Collector):
    """``alexandrite_fault_active{fault}``: the fault's value when it is a number, 1 for a
    service name, 0 when off; every stored fault is always listed."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults

    def collect(self) -> Iterator[Metric]:
        active = self._faults.current()
        family = GaugeMetricFamily(
            "alexandrite_fault_active",
            "Injected faults in effect (alexandrite faults): the value, 1 for a name, 0 when off.",
            labels=["fault"],
        )
        for name, spec in FAULTS.items():
            if not spec.stored:
                continue
            value = active.get(name, 0)
            family.add_metric([name], float(value) if isinstance(value, int | float) else 1.0)
        yield family
