"""From a fault to the notifier: a Prometheus and an Alertmanager of the test's own (test alert
profile: 30 s order limits) scrape the in-process platform, whose faults file is its own, so
pausing a consumer here never disturbs the shared stack."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio

from alexandrite.common.faults import write_faults_file
from alexandrite.common.platform import GATEWAY
from tests.integration.conftest import Platform
from tests.integration.flow import place_order, submit, wait_for_crm_status, wait_for_shop_status
from tests.integration.own_platform import own_platform
from tests.support.monitoring import Monitoring, run_monitoring
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

TEST_LIMIT_S = 30.0
# DESIGN.md §5: an alert reaches the notifier within a minute of its condition.
DELIVERY_BUDGET_S = 60.0


@pytest_asyncio.fixture(loop_scope="session")
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with own_platform(tmp_path, "alerting") as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def monitoring(platform: Platform, tmp_path: Path) -> AsyncIterator[Monitoring]:
    targets = {
        job: str(urlsplit(service.url).netloc)
        for job, service in {
            "shop": platform.shop,
            "crm": platform.crm,
            "mes": platform.mes,
            "files": platform.files,
        }.items()
    }
    async with run_monitoring(
        tmp_path,
        targets=targets,
        shop_url=platform.shop.url,
        amqp_url=platform.amqp_url,
        database_suffix="alerting",
    ) as running:
        yield running


def _order_stuck(notifications: list[dict[str, Any]], order_id: str, status: str) -> Any:
    for notification in notifications:
        if (
            notification["alertname"] == "OrderStuck"
            and notification["status"] == status
            and notification["labels"].get("service") == "shop"
            and notification["labels"].get("status") == "approved"
            and order_id in (notification["enrichment"] or {}).get("order_ids", [])
        ):
            return notification
    return None


async def test_an_order_stuck_behind_a_paused_consumer_reaches_the_notifier_with_its_id(
    platform: Platform, monitoring: Monitoring
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        # MES stops taking events: the approved order never gets its production job.
        write_faults_file(platform.faults_file, {"consumer_paused": "mes"})
        try:
            # The fault takes effect within about a second: on a quiet machine the order would
            # otherwise reach the MES before its consumer pauses, and never wait in `approved`.
            consumer = platform.mes.app.state.runtime.consumer

            async def paused() -> bool:
                return not consumer.consuming

            await eventually(paused, timeout=10, what="the MES consumer to pause")
            order_id = await place_order(client, platform)
            await submit(client, platform, order_id)
            await wait_for_crm_status(client, platform, order_id, "in_review")
            approved = await client.post(f"{platform.crm.url}/api/v1/orders/{order_id}/approve")
            assert approved.status_code == 200, approved.text
            order = await wait_for_shop_status(client, platform, order_id, "approved")
            approved_at = datetime.fromisoformat(order["history"][-1]["at"]).timestamp()

            async def notified() -> Any:
                return _order_stuck(await monitoring.notifications(), order_id, "firing")

            firing = await eventually(
                notified,
                timeout=TEST_LIMIT_S + DELIVERY_BUDGET_S + 30,
                interval=0.5,
                what=f"an OrderStuck notification naming {order_id}\n{monitoring.logs()}",
            )
            received = datetime.fromisoformat(firing["received_at"]).timestamp()
            past_limit = received - (approved_at + TEST_LIMIT_S)
            print(f"OrderStuck reached the notifier {past_limit:.1f} s after the limit passed")
            assert past_limit < DELIVERY_BUDGET_S
        finally:
            platform.faults_file.unlink(missing_ok=True)

        assert firing["severity"] == "page"
        assert "approved" in firing["annotations"]["summary"]
        assert firing["annotations"]["runbook_url"] == "docs/runbooks/OrderStuck.md"
        enrichment = firing["enrichment"]
        assert enrichment["order_id"] == order_id  # the oldest approved order: ours
        assert enrichment["links"]["zipkin"].endswith(f"annotationQuery=order.id%3D{order_id}")
        assert enrichment["links"]["journey"] == f"{GATEWAY.url}/orders/{order_id}"
        assert (await monitoring.delivered(firing))["deliveries"] == {"log": "delivered"}

        # Resumed: MES queues the job, the order moves on, the alert resolves.
        await wait_for_shop_status(client, platform, order_id, "queued")
        resumed = time.time()

        async def resolved() -> Any:
            return _order_stuck(await monitoring.notifications("resolved"), order_id, "resolved")

        notice = await eventually(
            resolved, timeout=120, interval=0.5, what=f"the resolved notice\n{monitoring.logs()}"
        )
        print(f"resolved notice {time.time() - resumed:.1f} s after the order moved on")
        assert notice["fingerprint"] == firing["fingerprint"]
        assert notice["ends_at"] is not None
