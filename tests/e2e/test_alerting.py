"""Faults in the running stack reach the notifier as alerts: CRM errors as an error-rate alert
(from the Collector's span metrics), a stopped Collector as a pipeline alert.

A Prometheus, Alertmanager and notifier of the test's own (tests.support.monitoring, test alert
profile) scrape the stack's fixed ports, so these tests do not depend on how the stack's own
monitoring is wired. Both tests change the shared stack (every CRM request fails; no spans
reach Zipkin), so they are `disruptive`: sorted last, and they restore what they changed.
The order-stuck path is tested without disturbing anyone in
tests/integration/test_alerting.py (the in-process platform has its own faults file).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from alexandrite.common import platform
from alexandrite.common.faults import read_faults_file, write_faults_file
from alexandrite.common.settings import default_faults_file
from alexandrite.ops.paths import Paths
from alexandrite.ops.supervisor import Supervisor
from tests.support.monitoring import Monitoring, run_monitoring
from tests.support.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive]

CRM = platform.CRM.url
COLLECTOR_HEALTH = f"{platform.COLLECTOR.url}/"
# DESIGN.md §5: an alert reaches the notifier within a minute of its condition.
DELIVERY_BUDGET_S = 60.0


@pytest_asyncio.fixture(loop_scope="session")
async def monitoring(tmp_path: Path) -> AsyncIterator[Monitoring]:
    async with run_monitoring(tmp_path, database_suffix="e2e_alerting") as running:
        yield running


async def _firing(monitoring: Monitoring, alertname: str, service: str) -> Any:
    for notification in await monitoring.notifications("firing"):
        if notification["alertname"] == alertname and notification["service"] == service:
            return notification
    return None


async def _scraped(monitoring: Monitoring, job: str) -> bool:
    return bool(await monitoring.query(f'up{{job="{job}"}} == 1'))


@contextlib.contextmanager
def _stack_fault(name: str, value: float | str) -> Any:
    """Add one fault to the stack's faults file; put the file back as it was afterwards."""
    path = default_faults_file()
    before = read_faults_file(path)
    write_faults_file(path, {**before, name: value})
    try:
        yield
    finally:
        if before:
            write_faults_file(path, before)
        else:
            path.unlink(missing_ok=True)


async def test_crm_errors_reach_the_notifier_as_an_error_rate_alert(
    monitoring: Monitoring,
) -> None:
    await eventually(
        lambda: _scraped(monitoring, "spanmetrics"), timeout=30, what="span metrics scraped"
    )
    first_error: float | None = None
    stop = asyncio.Event()

    async def traffic() -> None:
        # The CRM sees no API traffic of its own in the demo: a manager's list, 5 per second.
        nonlocal first_error
        async with httpx.AsyncClient(timeout=5) as client:
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    answer = await client.get(f"{CRM}/api/v1/orders", params={"limit": 1})
                    if answer.status_code == 503 and first_error is None:
                        first_error = time.time()
                await asyncio.sleep(0.2)

    with _stack_fault("crm_error_rate", 1.0):
        driver = asyncio.create_task(traffic())
        try:
            notification = await eventually(
                lambda: _firing(monitoring, "ServiceErrorRateHigh", "crm"),
                timeout=DELIVERY_BUDGET_S + 60,
                interval=0.5,
                what=f"ServiceErrorRateHigh for crm at the notifier\n{monitoring.logs()}",
            )
        finally:
            stop.set()
            await driver
    assert first_error is not None, "the CRM never answered 503: is crm_error_rate implemented?"
    took = datetime.fromisoformat(notification["received_at"]).timestamp() - first_error
    print(f"ServiceErrorRateHigh reached the notifier {took:.1f} s after the first 503")
    assert took < DELIVERY_BUDGET_S
    assert notification["severity"] == "page"
    assert notification["annotations"]["summary"].startswith("crm: ")
    assert (await monitoring.delivered(notification))["deliveries"] == {"log": "delivered"}


async def test_a_stopped_collector_reaches_the_notifier_as_a_pipeline_alert(
    monitoring: Monitoring,
) -> None:
    await eventually(lambda: _scraped(monitoring, "otelcol"), timeout=30, what="otelcol scraped")
    supervisor = Supervisor(Paths.from_env())
    await asyncio.to_thread(supervisor.stop, "otelcol")
    stopped = time.time()
    try:
        notification = await eventually(
            lambda: _firing(monitoring, "CollectorDown", "otelcol"),
            timeout=DELIVERY_BUDGET_S + 30,
            interval=0.5,
            what=f"CollectorDown at the notifier\n{monitoring.logs()}",
        )
    finally:
        await asyncio.to_thread(supervisor.start, "otelcol")

        async def healthy() -> bool:
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    return (await client.get(COLLECTOR_HEALTH)).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(healthy, timeout=120, what="the Collector back")
    took = datetime.fromisoformat(notification["received_at"]).timestamp() - stopped
    print(f"CollectorDown reached the notifier {took:.1f} s after the Collector stopped")
    assert took < DELIVERY_BUDGET_S
    assert notification["severity"] == "page"
    assert notification["annotations"]["runbook_url"] == "docs/runbooks/CollectorDown.md"
