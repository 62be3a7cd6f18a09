"""The support console in a real browser: from the home page, a failed order's reason is on
screen in at most two actions (type the id + Enter, or click its row in the failed list), and a
stalled order shows STALLED with its queue. The status table names the service that caused each
status, a span link opens that very span, and the notifications page shows each order alert
with its sentence and a link to the journey. Screenshots go to test-artifacts/.

The gateway under test reads a notifier of its own (in-process, fresh database, the stack's
Shop for enrichment), which gets Alertmanager's webhook as Alertmanager sends it: the alert rules
and their delivery are tested in tests/*/test_alerting.py, this tests what support sees."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from alexandrite.cli.demo import DEMO_ROTATION, place_order, wait_terminal
from alexandrite.common import platform
from alexandrite.files.samples import sample_bytes
from alexandrite.gateway.principal import SUPPORT
from alexandrite.notifier.app import create_app as create_notifier
from alexandrite.notifier.settings import Settings as NotifierSettings
from alexandrite.ops.scratch_database import fresh_database
from tests.e2e.test_support_console import CUBE, faults_on, mes_consumer_paused
from tests.support.gateway import PASSWORD, GatewayUnderTest, running_gateway
from tests.support.infra import free_port
from tests.support.polling import eventually
from tests.support.servers import RunningService, serve_in_process

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SHOP = platform.SHOP.url


# Which service's span causes each status of a print (the Shop records them all).
CAUSES = {
    "created": "shop-api",
    "submitted": "shop-api",
    "in_review": "crm-api",
    "approved": "crm-api",
    "queued": "mes-api",
    "in_production": "mes-api",
    "failed": "mes-api",
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def notifier() -> AsyncIterator[RunningService]:
    port = free_port()
    settings = NotifierSettings(
        port=port,
        database_url=await fresh_database("notifier", "console_browser"),
        shop_url=SHOP,
        delivery_poll_interval_s=0.5,
    )
    async with serve_in_process("notifier", create_notifier(settings), port) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def gateway(notifier: RunningService) -> AsyncIterator[GatewayUnderTest]:
    async with running_gateway(
        "console_browser", alert_profile="test", notifier_url=notifier.url
    ) as running:
        await running.add_user("ria", SUPPORT)
        yield running


async def _alert_to(notifier: RunningService, alertname: str, **labels: str) -> None:
    """One firing alert, as Alertmanager's webhook (version 4) delivers it."""
    annotations = {
        "OrderStuck": {
            "summary": f"shop: an order has been in status {labels.get('status')} past its limit",
            "limit_seconds": "30",
        },
        "OrderFailed": {"summary": "shop: orders failed in the last 15 minutes (about 1)"},
    }[alertname] | {"window_seconds": "900", "runbook_url": f"docs/runbooks/{alertname}.md"}
    alert = {
        "status": "firing",
        "labels": {"alertname": alertname, "service": "shop", "severity": "page", **labels},
        "annotations": annotations,
        "startsAt": "2026-12-01T00:00:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"{platform.PROMETHEUS.url}/graph",
        "fingerprint": f"{alertname}-{time.monotonic_ns()}",
    }
    payload = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "notifier",
        "groupLabels": {"alertname": alertname},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": platform.ALERTMANAGER.url,
        "alerts": [alert],
    }
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(f"{notifier.url}/api/v1/alertmanager", json=payload)
    assert answer.status_code < 300, answer.text


async def _notification_row(page: Any, gateway: GatewayUnderTest, order_id: str) -> Any:
    """The notifications page's row linking ``order_id`` (the page is reloaded until it does)."""
    row = page.locator(f"#notifications tr:has(a.journey[href='/orders/{order_id}'])")

    async def listed() -> bool:
        await page.goto(f"{gateway.url}/notifications")
        return bool(await row.count() == 1)

    await eventually(listed, timeout=30, what=f"a notification naming {order_id}")
    return row


@pytest.fixture(scope="module")
def server_certificate(gateway: GatewayUnderTest) -> Path:
    return gateway.settings.tls_cert_file


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def failed_order(gateway: GatewayUnderTest) -> dict[str, Any]:
    samples = {kind: sample_bytes(kind) for kind in set(DEMO_ROTATION)}
    with faults_on(mes_failure_rate=1.0):
        async with httpx.AsyncClient(timeout=60) as client:
            order_id = await place_order(client, SHOP, CUBE, samples)
            order = await wait_terminal(client, SHOP, order_id, time.monotonic() + 180)
    assert order["status"] == "failed"
    token = await gateway.token("ria")
    async with gateway.client(headers={"authorization": f"Bearer {token}"}) as client:

        async def step_found() -> bool:
            journey = (await client.get(f"/api/v1/orders/{order_id}/journey")).json()
            causes = [status["service"] for status in journey["statuses"]]
            return journey["verdict"]["step"] is not None and None not in causes

        await eventually(step_found, timeout=90, what="the failing span and every cause in Zipkin")
    return order


async def _logged_in_page(chromium: Any, gateway: GatewayUnderTest) -> tuple[Any, Any]:
    context = await chromium.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(f"{gateway.url}/auth/login?next=/")
    await page.fill("input[name=username]", "ria")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{gateway.url}/")
    return context, page


async def test_a_failed_orders_reason_is_two_actions_from_the_home_page(
    gateway: GatewayUnderTest, chromium: Any, failed_order: dict[str, Any], artifacts: Path
) -> None:
    reason = failed_order["reason"]
    context, page = await _logged_in_page(chromium, gateway)
    try:
        await page.screenshot(path=artifacts / "console-home.png", full_page=True)
        # Way 1: type a unique prefix of the id, then Enter (two actions).
        await page.fill("#order-search", failed_order["id"][:13])
        await page.press("#order-search", "Enter")
        await page.wait_for_url(f"{gateway.url}/orders/{failed_order['id']}")
        assert reason in await page.locator("#verdict").inner_text()
        assert reason == await page.locator("#reason").inner_text()
        assert await page.locator("#step-link").get_attribute("href")
        await page.screenshot(path=artifacts / "console-failed-journey.png", full_page=True)
        # Way 2: one click on the order's row in the failed list.
        await page.goto(f"{gateway.url}/")
        await page.locator(f"#list-failed a[href='/orders/{failed_order['id']}']").click()
        assert reason in await page.locator("#verdict").inner_text()
    finally:
        await context.close()


async def test_each_status_names_the_service_whose_span_caused_it(
    gateway: GatewayUnderTest, chromium: Any, failed_order: dict[str, Any], artifacts: Path
) -> None:
    context, page = await _logged_in_page(chromium, gateway)
    try:
        await page.goto(f"{gateway.url}/orders/{failed_order['id']}")
        causes = {status: await page.locator(f"#cause-{status}").inner_text() for status in CAUSES}
        assert causes == CAUSES
        await page.locator("#statuses").screenshot(path=artifacts / "console-caused-by.png")
        # The CRM's approval: its link opens the CRM's span that published the event.
        await page.click("#cause-approved")
        assert await page.locator("#span-service").inner_text() == "crm-api"
        assert await page.locator("#span-name").inner_text() == "publish order.approved"
    finally:
        await context.close()


async def test_the_failing_span_link_opens_that_span_and_links_its_trace_in_zipkin(
    gateway: GatewayUnderTest, chromium: Any, failed_order: dict[str, Any], artifacts: Path
) -> None:
    token = await gateway.token("ria")
    async with gateway.client(headers={"authorization": f"Bearer {token}"}) as client:
        journey = (await client.get(f"/api/v1/orders/{failed_order['id']}/journey")).json()
    step = journey["verdict"]["step"]
    context, page = await _logged_in_page(chromium, gateway)
    try:
        await page.goto(f"{gateway.url}/orders/{failed_order['id']}")
        await page.click("#step-link")
        await page.wait_for_url(f"{gateway.url}/traces/{step['trace_id']}/spans/{step['span_id']}")
        assert await page.locator("#span-id").inner_text() == step["span_id"]
        assert await page.locator("#span-service").inner_text() == "mes-api"
        assert await page.locator("#span-name").inner_text() == step["span"]
        assert failed_order["reason"] in await page.locator("#span-error").inner_text()
        await page.screenshot(path=artifacts / "console-failing-span.png", full_page=True)
        # Zipkin's own UI, through the gateway, shows the trace the span belongs to.
        await page.click("#zipkin-trace")
        await page.wait_for_url(f"{gateway.url}/zipkin/traces/{step['trace_id']}")
        await page.get_by_text(step["trace_id"]).first.wait_for(timeout=30_000)
        await page.screenshot(path=artifacts / "console-failing-span-zipkin-trace.png")
    finally:
        await context.close()


async def test_an_order_failed_notification_shows_the_reason_and_links_the_journey(
    gateway: GatewayUnderTest,
    notifier: RunningService,
    chromium: Any,
    failed_order: dict[str, Any],
    artifacts: Path,
) -> None:
    await _alert_to(notifier, "OrderFailed")
    context, page = await _logged_in_page(chromium, gateway)
    try:
        await page.click("#notifications-link")
        row = await _notification_row(page, gateway, failed_order["id"])
        text = await row.inner_text()
        assert "OrderFailed" in text and failed_order["reason"] in text
        await page.screenshot(path=artifacts / "console-notifications-failed.png", full_page=True)
        await row.locator(f"a.journey[href='/orders/{failed_order['id']}']").click()
        assert failed_order["reason"] == await page.locator("#reason").inner_text()
    finally:
        await context.close()


async def test_a_stalled_order_shows_stalled_with_its_queue_and_its_alert_links_it(
    gateway: GatewayUnderTest, notifier: RunningService, chromium: Any, artifacts: Path
) -> None:
    samples = {kind: sample_bytes(kind) for kind in set(DEMO_ROTATION)}
    token = await gateway.token("ria")
    async with mes_consumer_paused():
        async with httpx.AsyncClient(timeout=60) as client:
            order_id = await place_order(client, SHOP, CUBE, samples)
        async with gateway.client(headers={"authorization": f"Bearer {token}"}) as client:
            seen: list[dict[str, Any]] = []

            async def stalled() -> bool:
                journey = (await client.get(f"/api/v1/orders/{order_id}/journey")).json()
                seen[:] = [journey]
                return bool(journey["verdict"]["state"] == "stalled")

            try:
                await eventually(stalled, timeout=150, what="the order past its 30 s limit")
            except AssertionError as timeout:
                last = seen[-1] if seen else {}
                raise AssertionError(
                    f"{timeout}; the journey said: {last.get('verdict')!r}, "
                    f"statuses {[(s['status'], s['duration_s']) for s in last.get('statuses', [])]}"
                ) from None
        context, page = await _logged_in_page(chromium, gateway)
        try:
            await page.locator(f"#list-stalled a[href='/orders/{order_id}']").click()
            verdict = await page.locator("#verdict").inner_text()
            assert "STALLED" in verdict and "mes.events" in verdict
            assert await page.locator("#waiting-queue").inner_text() == "mes.events"
            assert await page.locator("#waiting-consumers").inner_text() == "0"
            await page.screenshot(path=artifacts / "console-stalled-journey.png", full_page=True)
            # The OrderStuck alert of `approved` names it, with the sentence, linked here.
            await _alert_to(notifier, "OrderStuck", status="approved")
            row = await _notification_row(page, gateway, order_id)
            text = await row.inner_text()
            assert "OrderStuck" in text and "STALLED" in text and "approved" in text
            await page.screenshot(
                path=artifacts / "console-notifications-stuck.png", full_page=True
            )
            await row.locator(f"a.journey[href='/orders/{order_id}']").click()
            assert "STALLED" in await page.locator("#verdict").inner_text()
        finally:
            await context.close()
