"""The metrics text of a service: the contract's names, scrape-time collectors, shop figures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from alexandrite.common.after_commit import after_commit
from alexandrite.common.faults import Faults, write_faults_file
from alexandrite.common.messaging.consumer_metrics import ConsumerMetrics
from alexandrite.common.metrics import ScrapeCollector, ServiceMetrics
from alexandrite.common.runtime_metrics import FaultCollector, SpanExportCollector
from alexandrite.common.telemetry.exporters import ExportCounters
from alexandrite.crm.metrics import CrmMetrics
from alexandrite.files.metrics import FilesMetrics
from alexandrite.shop.domain import OrderStatus
from alexandrite.shop.metrics import ShopMetrics


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


class Figures(ScrapeCollector):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail

    async def read(self) -> Sequence[Metric]:
        if self.fail:
            raise ConnectionError("database down")
        return [GaugeMetricFamily("alexandrite_outbox_pending", "pending", value=3)]


async def test_the_text_holds_every_name_of_the_contract(tmp_path: Path) -> None:
    metrics = ServiceMetrics()
    counters = ExportCounters()
    counters.exported, counters.failed = 12, 2
    faults_file = tmp_path / "faults.json"
    write_faults_file(faults_file, {"crm_error_rate": 0.5, "consumer_paused": "mes"})
    metrics.add(SpanExportCollector(counters))
    metrics.add(FaultCollector(Faults(faults_file)))
    ConsumerMetrics(metrics.registry, "crm.events")
    ShopMetrics(metrics.registry)
    FilesMetrics(metrics.registry)
    CrmMetrics(metrics.registry)

    text = await metrics.render()
    found = samples(text)
    names = {name for name, _ in found}
    for name in (
        "alexandrite_spans_exported_total",
        "alexandrite_spans_failed_total",
        "alexandrite_fault_active",
        "alexandrite_messages_processed_total",
        "alexandrite_messages_retried_total",
        "alexandrite_messages_dead_lettered_total",
        "alexandrite_orders_created_total",
        "alexandrite_orders_finished_total",
        "alexandrite_order_processing_seconds_bucket",
        "alexandrite_order_status_seconds_count",
        "alexandrite_model_upload_seconds_bucket",
        "alexandrite_model_analysis_seconds_bucket",
        "alexandrite_model_analysis_failures_total",
        "alexandrite_complaints_total",
    ):
        assert name in names, name
    assert found[("alexandrite_spans_exported_total", ())] == 12
    assert found[("alexandrite_spans_failed_total", ())] == 2
    assert found[("alexandrite_fault_active", (("fault", "crm_error_rate"),))] == 0.5
    assert found[("alexandrite_fault_active", (("fault", "consumer_paused"),))] == 1
    assert found[("alexandrite_fault_active", (("fault", "db_latency_ms"),))] == 0
    dead = ("alexandrite_messages_dead_lettered_total", (("queue", "crm.events"),))
    assert found[dead] == 0
    finished = ("alexandrite_orders_finished_total", (("final_status", "failed"),))
    assert found[finished] == 0
    assert not [name for name in names if name.endswith("_created")]


async def test_a_scrape_time_collector_that_fails_is_left_out_and_the_rest_stays() -> None:
    metrics = ServiceMetrics()
    figures = Figures()
    metrics.add(figures)
    metrics.add(SpanExportCollector(ExportCounters()))
    assert ("alexandrite_outbox_pending", ()) in samples(await metrics.render())
    figures.fail = True
    found = samples(await metrics.render())
    assert ("alexandrite_outbox_pending", ()) not in found
    assert ("alexandrite_spans_exported_total", ()) in found
    metrics.remove_scrape_collectors()
    figures.fail = False
    assert ("alexandrite_outbox_pending", ()) not in samples(await metrics.render())


def test_a_status_change_observes_the_time_in_the_old_status_and_the_processing_time() -> None:
    metrics = ServiceMetrics()
    shop = ShopMetrics(metrics.registry)
    created = datetime(2026, 1, 1, tzinfo=UTC)
    shop.transition(None, OrderStatus.CREATED, None, created, created)()
    shop.transition(
        OrderStatus.CREATED, OrderStatus.SUBMITTED, created, created + timedelta(seconds=4), created
    )()
    shop.transition(
        OrderStatus.SUBMITTED,
        OrderStatus.COMPLETED,
        created + timedelta(seconds=4),
        created + timedelta(seconds=40),
        created,
    )()
    registry = metrics.registry
    assert registry.get_sample_value("alexandrite_orders_created_total") == 1
    assert (
        registry.get_sample_value(
            "alexandrite_orders_finished_total", {"final_status": "completed"}
        )
        == 1
    )
    assert registry.get_sample_value("alexandrite_order_processing_seconds_sum") == 40
    assert (
        registry.get_sample_value("alexandrite_order_status_seconds_sum", {"status": "created"})
        == 4
    )
    assert (
        registry.get_sample_value("alexandrite_order_status_seconds_sum", {"status": "submitted"})
        == 36
    )


def test_after_commit_callbacks_run_on_commit_and_never_after_a_rollback() -> None:
    ran: list[str] = []
    session = Session()
    after_commit(session, lambda: ran.append("committed"))
    session.commit()
    after_commit(session, lambda: ran.append("rolled back"))
    session.begin()
    session.rollback()
    session.commit()
    assert ran == ["committed"]
