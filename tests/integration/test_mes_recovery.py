"""Print jobs survive a bad day: a MES process SIGKILLed mid-print, and a database outage when a
print ends (issue 12, finding 2: both used to leave the job ``in_production`` and its printer
``busy`` for good).

The killed MES is a real process (``python -m alexandrite.mes``) on a free port, on a database
of its own (``alexandrite_mes_mes_recovery``) and the MES tests' RabbitMQ virtual host; its
models come from the real file storage of the MES tests. The outage is a TCP proxy between an
in-process MES and PostgreSQL that the test cuts and restores: the shared server never stops.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from alexandrite.common import platform
from alexandrite.mes.domain import RESTARTED_MID_PRINT
from alexandrite.ops.scratch_database import fresh_database
from tests.integration.test_mes_api import (
    AMQP_URL,
    EventLog,
    FileStorage,
    MesFactory,
    amqp,
    approval,
    file_storage,
    mes_app,
    mes_database_url,
    mes_db,
    production_events,
    publish,
    spans,
    spans_named,
)
from tests.support.infra import free_port
from tests.support.polling import eventually
from tests.support.tcp_proxy import tcp_proxy

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


@pytest.fixture
async def recovery_db() -> AsyncIterator[tuple[str, AsyncEngine]]:
    url = await fresh_database("mes", "mes_recovery")
    engine = create_async_engine(url)
    yield url, engine
    await engine.dispose()


class MesProcess:
    """``python -m alexandrite.mes`` with the test's settings; kill it, start it again."""

    def __init__(self, log: Path, settings: dict[str, str]) -> None:
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._settings = settings
        self._process: asyncio.subprocess.Process | None = None

    async def start(self, **overrides: str) -> None:
        settings = {**self._settings, **overrides, "port": str(self.port)}
        env = {key: value for key, value in os.environ.items() if not key.startswith("MES_")}
        env.update({f"MES_{key.upper()}": value for key, value in settings.items()})
        env["ALEXANDRITE_TELEMETRY_ENABLED"] = "false"
        with self.log.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "alexandrite.mes", env=env, stdout=log, stderr=log
            )

        async def ready() -> bool:
            assert self._process is not None and self._process.returncode is None, self.tail()
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{self.url}/ready", timeout=1)).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(ready, timeout=60, what="the MES process to be ready")

    async def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is failed or freed on the way out."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        await self._process.wait()

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 30)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()

    async def get(self, path: str, **params: str) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json() if "json" in response.headers["content-type"] else response.text

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@pytest.fixture
async def mes_process(
    recovery_db: tuple[str, AsyncEngine],
    file_storage: FileStorage,
    amqp: AbstractRobustConnection,
    tmp_path: Path,
) -> AsyncIterator[MesProcess]:
    queue = f"mes.events.test-{uuid.uuid4().hex[:12]}"
    process = MesProcess(
        tmp_path / "mes.log",
        {
            "database_url": recovery_db[0],
            "amqp_url": AMQP_URL,
            "files_url": file_storage.url,
            "files_timeout_s": "5",
            "queue_name": queue,
            "faults_file": str(tmp_path / "faults.json"),
            "outbox_poll_interval_s": "0.2",
            "consumer_retry_delays_ms": "[200]",
            "consumer_max_attempts": "2",
            "log_level": "INFO",
            "simulate_printers": "true",
            "printers": "1",
            "poll_interval_s": "0.1",
            "failure_rate": "0",
            "print_lease_s": "1",
            # Long enough that only a kill can end the first print.
            "print_seconds_min": "600",
            "print_seconds_max": "600",
        },
    )
    try:
        yield process
    finally:
        await process.stop()
        channel = await amqp.channel()
        for name in (queue, f"{queue}.dead", f"{queue}.retry.1"):
            await channel.queue_delete(name)
        await channel.close()


async def _row(engine: AsyncEngine, job_id: str) -> Any:
    async with engine.connect() as connection:
        job = (
            await connection.execute(
                text("SELECT status, reason, printer FROM jobs WHERE id = :j"), {"j": job_id}
            )
        ).one()
        printer = (
            await connection.execute(
                text("SELECT status, current_job_id FROM printers WHERE name = 'printer-1'")
            )
        ).one()
    return job, printer


async def _printing_then_killed(
    mes: MesProcess, file_storage: FileStorage, amqp: AbstractRobustConnection
) -> tuple[uuid.UUID, str]:
    await mes.start()
    order_id = uuid.uuid4()
    await publish(amqp, "order.approved", order_id, approval(*await file_storage.cube()))

    async def printing() -> str | None:
        jobs = await mes.get("/api/v1/jobs", order_id=str(order_id))
        return str(jobs[0]["id"]) if jobs and jobs[0]["status"] == "in_production" else None

    job_id = await eventually(printing, timeout=30, what="the print to start")
    await mes.kill()
    return order_id, job_id


async def test_a_mes_killed_mid_print_resumes_the_print_at_restart_and_frees_the_printer(
    mes_process: MesProcess,
    recovery_db: tuple[str, AsyncEngine],
    file_storage: FileStorage,
    amqp: AbstractRobustConnection,
    production_events: EventLog,
) -> None:
    engine = recovery_db[1]
    order_id, job_id = await _printing_then_killed(mes_process, file_storage, amqp)
    job, printer = await _row(engine, job_id)
    assert (job.status, printer.status) == ("in_production", "busy")  # what the kill leaves

    # The restarted MES prints faster: the print has no time left and completes at once.
    await mes_process.start(print_seconds_min="0.5", print_seconds_max="0.5")

    async def completed() -> bool:
        job, printer = await _row(engine, job_id)
        return bool(job.status == "completed" and printer.status == "idle")

    await eventually(
        completed, timeout=30, what=f"the job to be resumed and completed\n{mes_process.tail()}"
    )
    job, printer = await _row(engine, job_id)
    assert (job.printer, printer.current_job_id) == ("printer-1", None)
    await production_events.wait_for(order_id, "production.completed")
    metrics = await mes_process.get("/metrics")
    assert 'alexandrite_print_jobs_recovered_total{outcome="resumed"} 1.0' in metrics


async def test_a_mes_killed_mid_print_fails_the_job_at_restart_when_it_has_no_such_printer(
    mes_process: MesProcess,
    recovery_db: tuple[str, AsyncEngine],
    file_storage: FileStorage,
    amqp: AbstractRobustConnection,
    production_events: EventLog,
) -> None:
    engine = recovery_db[1]
    order_id, job_id = await _printing_then_killed(mes_process, file_storage, amqp)

    # Restarted without the simulated fleet: nothing can resume the print.
    await mes_process.start(simulate_printers="false")

    async def failed() -> bool:
        job, printer = await _row(engine, job_id)
        return bool(job.status == "failed" and printer.status == "idle")

    await eventually(failed, timeout=30, what=f"the job to be failed\n{mes_process.tail()}")
    job, _ = await _row(engine, job_id)
    assert job.reason == RESTARTED_MID_PRINT
    event = await production_events.wait_for(order_id, "production.failed")
    assert event["data"]["reason"] == RESTARTED_MID_PRINT
    metrics = await mes_process.get("/metrics")
    assert 'alexandrite_print_jobs_recovered_total{outcome="failed"} 1.0' in metrics


def _through(proxy_port: int, database_url: str) -> str:
    parts = urlsplit(database_url)
    credentials, _, _ = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{proxy_port}"))


async def test_a_database_outage_as_a_print_ends_is_retried_and_the_job_completes(
    recovery_db: tuple[str, AsyncEngine],
    mes_app: MesFactory,
    file_storage: FileStorage,
    production_events: EventLog,
    spans: InMemorySpanExporter,
) -> None:
    url, engine = recovery_db
    target = urlsplit(url)
    async with tcp_proxy(
        target.hostname or platform.HOST, target.port or platform.POSTGRESQL.port
    ) as proxy:
        fleet: dict[str, Any] = {
            "database_url": _through(proxy.port, url),
            "simulate_printers": True,
            "printers": 1,
            "poll_interval_s": 0.1,
            "failure_rate": 0.0,
            "print_seconds_min": 1.5,
            "print_seconds_max": 1.5,
            "print_lease_s": 30.0,
            "finish_attempts": 40,
            "finish_first_delay_s": 0.2,
            "finish_max_delay_s": 0.5,
        }
        async with mes_app(**fleet) as mes:
            job = await mes.approve(*await file_storage.cube())

            async def printing() -> bool:
                return bool((await mes.job(job["id"]))["status"] == "in_production")

            await eventually(printing, what="the print to start")
            await proxy.cut()

            async def print_over() -> bool:
                return bool(spans_named(spans, "mes.print", job["id"]))

            # The print ends 1.5 s after it started; its completion then meets the outage.
            await eventually(print_over, what="the print to end")

            async def retried() -> bool:
                response = await mes.client.get("/metrics")
                return "alexandrite_mes_database_retries_total 0.0" not in response.text

            await eventually(retried, what="the completion to be retried")
            await proxy.restore()

            async def completed() -> bool:
                async with engine.connect() as connection:
                    row = (
                        await connection.execute(
                            text(
                                "SELECT j.status, p.status AS printer FROM jobs j, printers p "
                                "WHERE j.id = :j AND p.name = 'printer-1'"
                            ),
                            {"j": job["id"]},
                        )
                    ).one()
                return bool((row.status, row.printer) == ("completed", "idle"))

            await eventually(completed, timeout=30, what="the job to complete after the outage")
            await production_events.wait_for(uuid.UUID(job["order_id"]), "production.completed")


def _overrun(metrics: str) -> float:
    (line,) = [row for row in metrics.splitlines() if row.startswith("alexandrite_print_overrun")]
    return float(line.split()[-1])


async def test_a_print_past_its_expected_time_raises_the_overrun_ratio_until_it_ends(
    recovery_db: tuple[str, AsyncEngine], mes_app: MesFactory, file_storage: FileStorage
) -> None:
    # 8 cm³ at 0.05 s/cm³: 0.4 s expected, judged as 1 s (the shortest expected time).
    async with mes_app(database_url=recovery_db[0], print_seconds_per_cm3=0.05) as mes:
        job = await mes.approve(*await file_storage.cube())
        assert _overrun((await mes.client.get("/metrics")).text) == 0.0
        started = await mes.client.post(f"/api/v1/jobs/{job['id']}/start")
        assert started.status_code == 200, started.text

        async def overdue() -> float:
            ratio = _overrun((await mes.client.get("/metrics")).text)
            return ratio if ratio > 1.5 else 0.0

        await eventually(overdue, what="the print to run past 1.5 times its expected time")
        assert (await mes.client.post(f"/api/v1/jobs/{job['id']}/complete")).status_code == 200
        assert _overrun((await mes.client.get("/metrics")).text) == 0.0
