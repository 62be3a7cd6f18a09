"""Metrics and run-time faults on the in-process platform (its own faults file, never the
stack's): business figures after real orders, figures read from the database at scrape time,
and each fault switched on and off while the services run."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aio_pika
import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from alexandrite.cli.faults import publish_poison_message
from alexandrite.common.faults import FaultValue, write_faults_file
from alexandrite.files.samples import SampleKind, sample_bytes
from tests.integration.conftest import Platform
from tests.integration.flow import (
    place_order,
    submit,
    wait_for_crm_status,
    wait_for_job,
    wait_for_shop_status,
)
from tests.support.polling import eventually
from tests.support.servers import RunningService

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: httpx.AsyncClient, service: RunningService) -> Samples:
    response = await client.get(f"{service.url}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@contextlib.contextmanager
def faults_on(platform: Platform, **faults: FaultValue) -> Iterator[None]:
    write_faults_file(platform.faults_file, faults)
    try:
        yield
    finally:
        platform.faults_file.unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


async def test_every_service_serves_its_runtime_metrics_untraced(
    platform: Platform, spans: InMemorySpanExporter
) -> None:
    async with client() as http:
        for service in (platform.shop, platform.crm, platform.mes, platform.files):
            found = await scrape(http, service)
            names = {name for name, _ in found}
            for name in (
                "alexandrite_outbox_pending",
                "alexandrite_spans_exported_total",
                "alexandrite_spans_failed_total",
                "alexandrite_fault_active",
            ):
                assert name in names, f"{name} missing on {service.name}"
            assert value(found, "alexandrite_fault_active", fault="db_latency_ms") == 0
        jobs = await scrape(http, platform.mes)
        assert ("alexandrite_orders", (("status", "queued"),)) in jobs
        assert ("alexandrite_order_oldest_age_seconds", (("status", "queued"),)) in jobs
        assert (
            "alexandrite_messages_processed_total",
            (("outcome", "success"), ("queue", "mes.events")),
        ) in jobs
    assert not [s for s in spans.get_finished_spans() if "/metrics" in s.name]


async def test_a_completed_order_is_counted_with_its_processing_and_status_times(
    platform: Platform,
) -> None:
    async with client() as http:
        before = await scrape(http, platform.shop)
        order_id = await place_order(http, platform)
        await submit(http, platform, order_id)
        await wait_for_crm_status(http, platform, order_id, "in_review")
        approved = await http.post(f"{platform.crm.url}/api/v1/orders/{order_id}/approve")
        assert approved.status_code == 200, approved.text
        job = await wait_for_job(http, platform, order_id)
        assert (await http.post(f"{platform.mes.url}/api/v1/jobs/{job['id']}/start")).is_success
        assert (await http.post(f"{platform.mes.url}/api/v1/jobs/{job['id']}/complete")).is_success
        await wait_for_shop_status(http, platform, order_id, "completed")
        after = await scrape(http, platform.shop)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("alexandrite_orders_created_total") >= 1
    assert grew("alexandrite_orders_finished_total", final_status="completed") >= 1
    assert grew("alexandrite_order_processing_seconds_count") >= 1
    assert grew("alexandrite_order_processing_seconds_sum") > 0
    assert value(after, "alexandrite_order_processing_seconds_bucket", le="+Inf") >= 1
    for status in ("created", "submitted", "in_review", "approved", "queued", "in_production"):
        assert grew("alexandrite_order_status_seconds_count", status=status) >= 1, status
    assert value(after, "alexandrite_orders", status="completed") >= 1


async def test_an_order_waiting_for_review_shows_its_age_on_the_crm(platform: Platform) -> None:
    async with client() as http:
        order_id = await place_order(http, platform)
        await submit(http, platform, order_id)
        await wait_for_crm_status(http, platform, order_id, "in_review")

        async def aged() -> Samples | None:
            found = await scrape(http, platform.crm)
            age = value(found, "alexandrite_order_oldest_age_seconds", status="in_review")
            return found if age > 0 else None

        found = await eventually(aged, what="an age for the oldest order in review")
        assert value(found, "alexandrite_orders", status="in_review") >= 1
        assert value(found, "alexandrite_order_oldest_age_seconds", status="rejected") == 0
        assert ("alexandrite_order_oldest_age_seconds", (("status", "rejected"),)) not in found
        shop = await scrape(http, platform.shop)
        assert value(shop, "alexandrite_orders", status="in_review") >= 1
        rejected = await http.post(
            f"{platform.crm.url}/api/v1/orders/{order_id}/reject", json={"reason": "test over"}
        )
        assert rejected.status_code == 200, rejected.text


async def queue_depth(platform: Platform, queue: str) -> int:
    connection = await aio_pika.connect_robust(platform.amqp_url)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0
    finally:
        await connection.close()


async def test_a_paused_consumer_lets_its_queue_fill_and_takes_it_up_when_resumed(
    platform: Platform,
) -> None:
    consumer = platform.mes.app.state.runtime.consumer
    async with client() as http:
        order_id = await place_order(http, platform)
        await submit(http, platform, order_id)
        await wait_for_crm_status(http, platform, order_id, "in_review")
        with faults_on(platform, consumer_paused="mes"):

            async def paused() -> bool:
                return not consumer.consuming

            await eventually(paused, timeout=5, what="the MES consumer to pause")
            approved = await http.post(f"{platform.crm.url}/api/v1/orders/{order_id}/approve")
            assert approved.status_code == 200, approved.text

            async def waiting() -> int:
                return await queue_depth(platform, "mes.events")

            assert await eventually(waiting, what="the approval to wait in mes.events") >= 1
            jobs = await http.get(f"{platform.mes.url}/api/v1/jobs", params={"order_id": order_id})
            assert jobs.json() == []
            found = await scrape(http, platform.mes)
            assert value(found, "alexandrite_fault_active", fault="consumer_paused") == 1
        job = await wait_for_job(http, platform, order_id)
        assert job["status"] == "queued"
        assert consumer.consuming


async def test_database_latency_slows_every_unit_of_work_until_cleared(
    platform: Platform,
) -> None:
    async with client() as http:
        order_id = await place_order(http, platform)
        url = f"{platform.shop.url}/api/v1/orders/{order_id}"

        async def took() -> float:
            started = time.monotonic()
            response = await http.get(url)
            assert response.status_code == 200, response.text
            return time.monotonic() - started

        with faults_on(platform, db_latency_ms=400):

            async def slow() -> float | None:
                elapsed = await took()
                return elapsed if elapsed >= 0.4 else None

            await eventually(slow, timeout=10, what="a read to take the injected 400 ms")

        async def fast() -> float | None:
            elapsed = await took()
            return elapsed if elapsed < 0.4 else None

        await eventually(fast, timeout=10, what="reads to be fast again")


async def test_crm_error_rate_one_fails_every_crm_request_and_event_but_not_the_probes(
    platform: Platform, spans: InMemorySpanExporter
) -> None:
    async with client() as http:
        order_id = await place_order(http, platform)
        before = await scrape(http, platform.crm)
        with faults_on(platform, crm_error_rate=1):

            async def failing() -> httpx.Response | None:
                response = await http.get(f"{platform.crm.url}/api/v1/orders")
                return response if response.status_code == 503 else None

            response = await eventually(failing, timeout=5, what="CRM requests to fail")
            assert response.headers["content-type"] == "application/problem+json"
            problem: dict[str, Any] = response.json()
            assert problem["title"] == "Injected fault"
            assert problem["status"] == 503
            assert "crm_error_rate" in problem["detail"]
            # Traced as a failed request: the Collector's RED metrics see the errors.
            failed = [
                span
                for span in spans.get_finished_spans()
                if span.kind is SpanKind.SERVER
                and (span.attributes or {}).get("http.response.status_code") == 503
            ]
            assert failed
            assert any(event.name == "fault.injected" for event in failed[-1].events)
            assert any(event.name == "http.problem" for event in failed[-1].events)
            assert (await http.get(f"{platform.crm.url}/health")).status_code == 200
            assert (await http.get(f"{platform.crm.url}/ready")).status_code == 200

            await submit(http, platform, order_id)

            async def dead_lettered() -> Samples | None:
                found = await scrape(http, platform.crm)
                dead = value(found, "alexandrite_messages_dead_lettered_total", queue="crm.events")
                before_dead = value(
                    before, "alexandrite_messages_dead_lettered_total", queue="crm.events"
                )
                return found if dead > before_dead else None

            found = await eventually(dead_lettered, what="the submission to be dead-lettered")
            retried = value(found, "alexandrite_messages_retried_total", queue="crm.events")
            assert (
                retried
                >= value(before, "alexandrite_messages_retried_total", queue="crm.events") + 2
            )
            assert value(found, "alexandrite_fault_active", fault="crm_error_rate") == 1

        async def answering() -> bool:
            return (await http.get(f"{platform.crm.url}/api/v1/orders")).status_code == 200

        await eventually(answering, timeout=5, what="the CRM to answer again")


async def test_a_poison_message_is_dead_lettered_at_once_and_counted(platform: Platform) -> None:
    async with client() as http:
        before = await scrape(http, platform.crm)
        routing_key = await publish_poison_message("crm.events", platform.amqp_url)
        assert routing_key == "order.submitted"

        def counted(found: Samples, name: str, **labels: str) -> float:
            return value(found, name, **labels) - value(before, name, **labels)

        async def dead() -> Samples | None:
            found = await scrape(http, platform.crm)
            malformed = counted(
                found,
                "alexandrite_messages_processed_total",
                queue="crm.events",
                outcome="malformed",
            )
            return found if malformed >= 1 else None

        found = await eventually(dead, what="the poison message to be dead-lettered")
        assert counted(found, "alexandrite_messages_dead_lettered_total", queue="crm.events") >= 1
        assert counted(found, "alexandrite_messages_retried_total", queue="crm.events") == 0


async def test_uploads_and_analyses_are_timed_and_failures_counted_by_reason(
    platform: Platform,
) -> None:
    models = f"{platform.files.url}/api/v1/models"
    async with client() as http:
        before = await scrape(http, platform.files)
        stored = await http.post(
            models, files={"file": ("cube.stl", sample_bytes(SampleKind.CUBE_STL))}
        )
        assert stored.status_code == 201, stored.text
        broken = await http.post(
            models, files={"file": ("cut.stl", sample_bytes(SampleKind.TRUNCATED_STL))}
        )
        assert broken.status_code == 422, broken.text
        with faults_on(platform, slow_analysis=0.6):

            async def slow_upload() -> float | None:
                started = time.monotonic()
                response = await http.post(
                    models, files={"file": ("cube.stl", sample_bytes(SampleKind.CUBE_STL))}
                )
                assert response.status_code == 201, response.text
                analysis_ms = float(response.json()["analysis_ms"])
                return analysis_ms if time.monotonic() - started >= 0.6 else None

            assert await eventually(slow_upload, timeout=10, what="a slow analysis") >= 600
        after = await scrape(http, platform.files)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("alexandrite_model_upload_seconds_count") >= 3
    assert grew("alexandrite_model_analysis_seconds_count") >= 3
    assert grew("alexandrite_model_analysis_seconds_sum") >= 0.6
    assert grew("alexandrite_model_analysis_failures_total", reason="invalid_model") == 1
    assert value(after, "alexandrite_model_analysis_failures_total", reason="timeout") == 0
