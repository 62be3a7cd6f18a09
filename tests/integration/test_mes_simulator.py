"""The simulated printer fleet against real PostgreSQL and RabbitMQ: it takes queued jobs, checks
their models, prints in the order's trace, then completes or fails them by its failure rate."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from alexandrite.mes.domain import FAILURE_REASONS
from tests.integration.test_mes_api import (
    EventLog,
    FileStorage,
    Mes,
    MesFactory,
    amqp,
    file_storage,
    mes_app,
    mes_database_url,
    mes_db,
    production_events,
    spans,
    spans_named,
)
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

# Fixtures shared with the API tests (pytest finds them by name in this module).
__all__ = [
    "amqp",
    "file_storage",
    "mes_app",
    "mes_database_url",
    "mes_db",
    "production_events",
    "spans",
]

FLEET = {
    "simulate_printers": True,
    "printers": 2,
    "print_seconds_min": 0.05,
    "print_seconds_max": 0.3,
    "poll_interval_s": 0.05,
    "failure_seed": 7,
}


@pytest.fixture
async def empty_queue(mes_db: AsyncEngine) -> AsyncIterator[None]:
    """The fleet takes any queued job: leave it none from other tests, and all printers idle."""
    async with mes_db.begin() as connection:
        await connection.execute(
            text(
                "UPDATE jobs SET status = 'cancelled', reason = 'test reset' "
                "WHERE status IN ('queued', 'in_production')"
            )
        )
        await connection.execute(text("UPDATE printers SET status = 'idle', current_job_id = NULL"))
    yield


async def _finished(mes: Mes, order_id: uuid.UUID) -> dict[str, Any]:
    async def over() -> dict[str, Any] | None:
        job = await mes.job_of(order_id)
        return job if job["status"] in {"completed", "failed", "cancelled"} else None

    result: dict[str, Any] = await eventually(over, what=f"the job of {order_id} to finish")
    return result


async def test_printers_complete_every_job_when_nothing_fails(
    empty_queue: None,
    mes_app: MesFactory,
    file_storage: FileStorage,
    production_events: EventLog,
    spans: InMemorySpanExporter,
) -> None:
    tracer = trace.get_tracer("tests.mes")
    async with mes_app(**FLEET, failure_rate=0.0) as mes:
        orders: list[tuple[uuid.UUID, int]] = []
        for _ in range(3):
            order_id = uuid.uuid4()
            with tracer.start_as_current_span("crm approve") as approving:
                headers: dict[str, str] = {}
                propagate.inject(headers)
                model_id, sha256 = await file_storage.cube()
                await mes.approve(model_id, sha256, order_id=order_id, headers=headers)
            orders.append((order_id, approving.get_span_context().trace_id))
        for order_id, _ in orders:
            job = await _finished(mes, order_id)
            assert job["status"] == "completed", job
            assert job["printer"] in {"printer-1", "printer-2"}
            for routing_key in ("production.queued", "production.started", "production.completed"):
                await production_events.wait_for(order_id, routing_key)

    for order_id, trace_id in orders:
        job_id = next(
            event["data"]["job_id"] for event in production_events.of(order_id, "production.queued")
        )
        (printing,) = spans_named(spans, "mes.print", job_id)
        attributes = dict(printing.attributes or {})
        assert attributes["order.id"] == str(order_id)
        assert attributes["model.volume_cm3"] == 8.0
        assert 0.05 <= float(attributes["print.duration_s"]) <= 0.3  # type: ignore[arg-type]
        # The whole production continues the trace of the step that approved the order.
        for name in ("mes.job.start", "mes.print", "mes.job.complete"):
            (span,) = spans_named(spans, name, job_id)
            assert span.context is not None and span.context.trace_id == trace_id, name


async def test_printers_fail_every_job_when_everything_fails(
    empty_queue: None,
    mes_app: MesFactory,
    file_storage: FileStorage,
    production_events: EventLog,
    mes_db: AsyncEngine,
) -> None:
    async with mes_app(**FLEET, failure_rate=1.0) as mes:
        order_ids = []
        for _ in range(2):
            job = await mes.approve(*await file_storage.cube())
            order_ids.append(uuid.UUID(job["order_id"]))
        for order_id in order_ids:
            job = await _finished(mes, order_id)
            assert job["status"] == "failed", job
            assert job["reason"] in FAILURE_REASONS
            failed = await production_events.wait_for(order_id, "production.failed")
            assert failed["data"]["reason"] == job["reason"]
            assert failed["data"]["printer"] == job["printer"]

        async def printers_idle() -> bool:
            async with mes_db.connect() as connection:
                busy = await connection.scalar(
                    text("SELECT count(*) FROM printers WHERE status <> 'idle'")
                )
            return bool(busy == 0)

        await eventually(printers_idle, what="every printer to be idle again")


async def test_printers_fail_a_job_whose_model_is_corrupt_and_carry_on(
    empty_queue: None, mes_app: MesFactory, file_storage: FileStorage
) -> None:
    async with mes_app(**FLEET, failure_rate=0.0) as mes:
        model_id, _ = await file_storage.cube()
        corrupt = await mes.approve(model_id, "e" * 64)
        good = await mes.approve(*await file_storage.cube())
        corrupt_job = await _finished(mes, uuid.UUID(corrupt["order_id"]))
        assert corrupt_job["status"] == "failed"
        assert "sha256" in corrupt_job["reason"]
        assert (await _finished(mes, uuid.UUID(good["order_id"])))["status"] == "completed"


async def test_stopping_the_fleet_fails_the_print_it_cut_off_and_frees_the_printer(
    empty_queue: None, mes_app: MesFactory, file_storage: FileStorage, mes_db: AsyncEngine
) -> None:
    slow = {**FLEET, "print_seconds_min": 60.0, "print_seconds_max": 60.0}
    async with mes_app(**slow, failure_rate=0.0) as mes:
        job = await mes.approve(*await file_storage.cube())

        async def printing() -> bool:
            return bool((await mes.job(job["id"]))["status"] == "in_production")

        await eventually(printing, what="the print to start")
    async with mes_db.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT status, reason, printer FROM jobs WHERE id = :j"), {"j": job["id"]}
            )
        ).one()
        printer = await connection.scalar(
            text("SELECT status FROM printers WHERE name = :p"), {"p": row.printer}
        )
    assert row.status == "failed"
    assert "interrupted" in row.reason
    assert printer == "idle"


async def test_a_printer_takes_a_newly_queued_job_at_once_not_at_its_next_poll(
    empty_queue: None, mes_app: MesFactory, file_storage: FileStorage
) -> None:
    # Polls a minute apart: the printers poll once at start, find nothing, and only the job's
    # commit ringing the fleet can get either of them to print within the deadline.
    rarely = {**FLEET, "poll_interval_s": 60.0}
    async with mes_app(**rarely, failure_rate=0.0) as mes:
        for _ in range(2):
            job = await mes.approve(*await file_storage.cube())
            finished = await eventually(
                functools.partial(_done, mes, job["id"]), timeout=15.0, what="the job's print"
            )
            assert finished["status"] == "completed", finished


async def _done(mes: Mes, job_id: str) -> dict[str, Any] | None:
    job = await mes.job(job_id)
    return job if job["status"] == "completed" else None
