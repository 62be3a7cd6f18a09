"""Prometheus metrics of one service: its own registry and the ``GET /metrics`` route.

One ``CollectorRegistry`` per app (never the global one), so several services in one process
(the in-process test platform) never collide. Figures that live in the database (orders per
status, the oldest order's age, unpublished outbox rows) are read at scrape time: a collector's
``collect()`` cannot await, so the route first awaits every ``ScrapeCollector.refresh()`` and then
renders the registry. Prometheus adds the ``service`` label from its scrape job.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

import prometheus_client
from fastapi import FastAPI, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

__all__ = ["ScrapeCollector", "ServiceMetrics", "install_metrics_route"]

_log = logging.getLogger(__name__)

# ``*_created`` series double every counter and no alert reads them.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream


class ScrapeCollector(Collector, ABC):
    """A collector whose families are read (awaited) just before each scrape."""

    def __init__(self) -> None:
        self._families: Sequence[Metric] = ()

    @abstractmethod
    async def read(self) -> Sequence[Metric]:
        """The metric families as they are now (database queries and the like)."""

    async def refresh(self) -> None:
        try:
            self._families = await self.read()
        except BaseException:
            # Absent rather than stale: an old figure would hide the very outage it measures.
            self._families = ()
            raise

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


class ServiceMetrics:
    def __init__(self, refresh_timeout_s: float = 5.0) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._refresh_timeout_s = refresh_timeout_s
        self._scraped: list[ScrapeCollector] = []
        self._lock = asyncio.Lock()

    def add(self, collector: Collector) -> None:
        self.registry.register(collector)
        if isinstance(collector, ScrapeCollector):
            self._scraped.append(collector)

    def remove_scrape_collectors(self) -> None:
        """Unregister the collectors that read the database (at shutdown, with the database)."""
        for collector in self._scraped:
            self.registry.unregister(collector)
        self._scraped = []

    async def render(self) -> bytes:
        """Refresh the scrape-time collectors, then the text exposition of the registry."""
        async with self._lock:
            for collector in self._scraped:
                try:
                    await asyncio.wait_for(collector.refresh(), self._refresh_timeout_s)
                except Exception as exc:
                    _log.warning(
                        "metrics of %s left out of this scrape: %r", type(collector).__name__, exc
                    )
            return generate_latest(self.registry)


def install_metrics_route(app: FastAPI, metrics: ServiceMetrics) -> None:
    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics (text exposition format)",
        response_class=PlainTextResponse,
    )
    async def scrape() -> Response:
        return Response(content=await metrics.render(), media_type=CONTENT_TYPE_LATEST)
