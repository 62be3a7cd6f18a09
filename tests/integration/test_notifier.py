"""The notifier on its own database: Alertmanager's webhook is stored once, OrderStuck gets the
order's id from the real Shop, and a failing channel is retried with backoff."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response

from alexandrite.common.platform import ALERTMANAGER, GATEWAY, PROMETHEUS, ZIPKIN
from alexandrite.notifier.app import create_app
from alexandrite.notifier.settings import Settings
from alexandrite.ops.scratch_database import fresh_database
from tests.integration.conftest import Platform
from tests.integration.flow import (
    place_order,
    submit,
    wait_for_crm_status,
    wait_for_job,
    wait_for_shop_status,
)
from tests.integration.own_platform import own_platform
from tests.support.infra import free_port
from tests.support.polling import eventually
from tests.support.servers import RunningService, serve_in_process

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    async with own_platform(tmp_path_factory.mktemp("notifier"), "notifier") as running:
        yield running


def _webhook(alerts: list[dict[str, Any]], status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="OrderStuck"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "notifier",
        "groupLabels": {"alertname": "OrderStuck"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": ALERTMANAGER.url,
        "alerts": alerts,
    }


def _alert(
    fingerprint: str,
    status: str = "firing",
    order_status: str = "in_review",
    ends_at: str = "0001-01-01T00:00:00Z",
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": "OrderStuck",
            "service": "shop",
            "status": order_status,
            "severity": "ticket",
        },
        "annotations": {
            "summary": f"shop: an order has been in status {order_status} for 31s",
            "limit_seconds": "0",
            "runbook_url": "docs/runbooks/OrderStuck.md",
        },
        "startsAt": "2026-11-28T04:00:00.000Z",
        "endsAt": ends_at,
        "generatorURL": f"{PROMETHEUS.url}/graph",
        "fingerprint": fingerprint,
    }


@contextlib.asynccontextmanager
async def _notifier(
    platform: Platform, suffix: str, **settings: Any
) -> AsyncIterator[RunningService]:
    port = free_port()
    app = create_app(
        Settings(
            port=port,
            database_url=await fresh_database("notifier", suffix),
            amqp_url=platform.amqp_url,
            shop_url=platform.shop.url,
            delivery_poll_interval_s=0.2,
            **settings,
        )
    )
    async with serve_in_process("notifier", app, port) as running:
        yield running


async def _notifications(client: httpx.AsyncClient, notifier: RunningService) -> Any:
    response = await client.get(f"{notifier.url}/api/v1/notifications")
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_order_stuck_webhook_is_stored_once_and_names_the_waiting_order(
    platform: Platform,
) -> None:
    async with httpx.AsyncClient(timeout=30) as client, _notifier(platform, "t1") as notifier:
        order_id = await place_order(client, platform)
        await submit(client, platform, order_id)
        await wait_for_crm_status(client, platform, order_id, "in_review")
        # The notifier asks the Shop, which hears of the review a moment after the CRM.
        await wait_for_shop_status(client, platform, order_id, "in_review")

        payload = _webhook([_alert("a1b2c3")])
        first = await client.post(f"{notifier.url}/api/v1/alertmanager", json=payload)
        again = await client.post(f"{notifier.url}/api/v1/alertmanager", json=payload)
        assert first.json() == {"received": 1, "new": 1}
        assert again.json() == {"received": 1, "new": 0}

        async def enriched() -> Any:
            rows = await _notifications(client, notifier)
            return rows if rows[0]["deliveries"].get("log") == "delivered" else None

        [notification] = await eventually(enriched, what="the notification delivered")
        enrichment = notification["enrichment"]
        waiting = await client.get(
            f"{platform.shop.url}/api/v1/orders",
            params={"status": "in_review", "oldest_first": "true", "limit": 10},
        )
        # The orders waiting longest, as the Shop lists them (ours among them when few wait).
        assert enrichment["order_ids"] == [order["id"] for order in waiting.json()]
        assert order_id in enrichment["order_ids"] or len(enrichment["order_ids"]) == 10
        assert enrichment["order_status"] == "in_review"
        oldest = enrichment["order_id"]
        assert enrichment["links"] == {
            "zipkin": f"{ZIPKIN.url}/zipkin/?annotationQuery=order.id%3D{oldest}",
            "journey": f"{GATEWAY.url}/orders/{oldest}",
        }

        # The resolved notice is a row of its own and keeps what the firing one found.
        resolved = _alert("a1b2c3", "resolved", ends_at="2026-11-28T04:05:00.000Z")
        answer = await client.post(
            f"{notifier.url}/api/v1/alertmanager", json=_webhook([resolved], "resolved")
        )
        assert answer.json() == {"received": 1, "new": 1}

        async def resolved_enriched() -> Any:
            response = await client.get(
                f"{notifier.url}/api/v1/notifications", params={"status": "resolved"}
            )
            rows = response.json()
            return rows if rows and rows[0]["enrichment"] is not None else None

        [notice] = await eventually(resolved_enriched, what="the resolved notice enriched")
        assert notice["enrichment"] == enrichment
        assert notice["ends_at"].startswith("2026-11-28T04:05:00")


async def test_a_webhook_of_another_version_is_refused(platform: Platform) -> None:
    async with httpx.AsyncClient(timeout=30) as client, _notifier(platform, "t2") as notifier:
        payload = _webhook([_alert("x")]) | {"version": "3"}
        answer = await client.post(f"{notifier.url}/api/v1/alertmanager", json=payload)
        assert answer.status_code == 400
        assert answer.headers["content-type"].startswith("application/problem+json")


async def test_a_failing_chat_webhook_is_retried_until_it_takes_the_notification(
    platform: Platform,
) -> None:
    received: list[dict[str, Any]] = []
    chat = FastAPI()

    @chat.post("/hook")
    async def hook(request: Request) -> Response:
        received.append(await request.json())
        # The first two calls fail, as a chat service that is briefly down would.
        return Response(status_code=503 if len(received) <= 2 else 200)

    @chat.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    chat_port = free_port()
    async with (
        httpx.AsyncClient(timeout=30) as client,
        serve_in_process("chat", chat, chat_port),
        _notifier(
            platform,
            "t3",
            webhook_url=f"http://127.0.0.1:{chat_port}/hook",
            delivery_backoff_s=0.2,
        ) as notifier,
    ):
        started = asyncio.get_running_loop().time()
        answer = await client.post(
            f"{notifier.url}/api/v1/alertmanager",
            json=_webhook([_alert("f00d", order_status="queued")]),
        )
        assert answer.status_code == 200
        # The webhook answer does not wait for any channel.
        assert asyncio.get_running_loop().time() - started < 2

        async def delivered() -> Any:
            rows = await _notifications(client, notifier)
            return rows if rows[0]["deliveries"].get("webhook") == "delivered" else None

        [notification] = await eventually(delivered, what="the chat webhook delivery")
        assert notification["deliveries"] == {"log": "delivered", "webhook": "delivered"}
        assert len(received) == 3
        assert received[-1]["text"].startswith("[FIRING] OrderStuck (ticket) shop")
        assert received[-1]["alert"]["labels"]["status"] == "queued"


async def test_an_order_failed_notification_carries_the_journey_link_and_the_real_reason(
    platform: Platform,
) -> None:
    received: list[dict[str, Any]] = []
    chat = FastAPI()

    @chat.post("/hook")
    async def hook(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=200)

    @chat.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    chat_port = free_port()
    async with (
        httpx.AsyncClient(timeout=30) as client,
        serve_in_process("chat", chat, chat_port),
        _notifier(platform, "t4", webhook_url=f"http://127.0.0.1:{chat_port}/hook") as notifier,
    ):
        order_id = await place_order(client, platform)
        await submit(client, platform, order_id)
        await wait_for_crm_status(client, platform, order_id, "in_review")
        await client.post(f"{platform.crm.url}/api/v1/orders/{order_id}/approve")
        job = await wait_for_job(client, platform, order_id)
        await client.post(f"{platform.mes.url}/api/v1/jobs/{job['id']}/start")
        failed = await client.post(
            f"{platform.mes.url}/api/v1/jobs/{job['id']}/fail", json={"reason": "nozzle clog"}
        )
        assert failed.status_code == 200, failed.text
        await wait_for_shop_status(client, platform, order_id, "failed")

        alert = {
            "status": "firing",
            "labels": {"alertname": "OrderFailed", "service": "shop", "severity": "ticket"},
            "annotations": {
                "summary": "shop: orders failed in the last 15 minutes (about 1)",
                "window_seconds": "900",
                "runbook_url": "docs/runbooks/OrderFailed.md",
            },
            "startsAt": "2026-12-01T10:00:00.000Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "fa11ed",
        }
        answer = await client.post(f"{notifier.url}/api/v1/alertmanager", json=_webhook([alert]))
        assert answer.json() == {"received": 1, "new": 1}

        async def delivered() -> Any:
            rows = await _notifications(client, notifier)
            return rows if rows[0]["deliveries"].get("webhook") == "delivered" else None

        [notification] = await eventually(delivered, what="the OrderFailed notification sent")
        enrichment = notification["enrichment"]
        journey = f"{GATEWAY.url}/orders/{order_id}"
        # Only this platform's orders failed: ours is the newest, with the MES's reason.
        assert enrichment["order_id"] == order_id
        assert enrichment["links"]["journey"] == journey
        assert enrichment["verdict"].startswith("Failed in production at ")
        assert enrichment["verdict"].endswith(": nozzle clog")
        [failed_order] = [o for o in enrichment["orders"] if o["id"] == order_id]
        assert failed_order["journey_url"] == journey
        assert failed_order["reason"] == "nozzle clog"
        text = received[-1]["text"]
        assert text.startswith("[FIRING] OrderFailed (ticket) shop")
        assert f"journey: {journey}" in text
        assert f"verdict: {enrichment['verdict']}" in text
