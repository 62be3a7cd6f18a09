"""A support engineer in a real browser: logs in, opens Zipkin through the gateway, searches
the order's id and sees its trace; someone without the support role sees the 403 page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from alexandrite.cli.demo import DEMO_ROTATION, place_order
from alexandrite.common import platform
from alexandrite.files.samples import sample_bytes
from alexandrite.gateway.principal import ADMIN, SUPPORT
from tests.e2e.zipkin import wait_for_order_spans
from tests.support.gateway import PASSWORD, GatewayUnderTest, running_gateway

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def gateway() -> AsyncIterator[GatewayUnderTest]:
    async with running_gateway("browser_test") as running:
        await running.add_user("sue", SUPPORT)
        await running.add_user("max", ADMIN)
        yield running


@pytest.fixture(scope="module")
def server_certificate(gateway: GatewayUnderTest) -> Path:
    return gateway.settings.tls_cert_file


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def traced_order() -> tuple[str, str]:
    """An order whose spans are in Zipkin: (order id, one of its trace ids)."""
    samples = {kind: sample_bytes(kind) for kind in set(DEMO_ROTATION)}
    async with httpx.AsyncClient(timeout=60) as client:
        order_id = await place_order(client, platform.SHOP.url, 1, samples)
        spans = await wait_for_order_spans(
            client, order_id, lambda found: len(found) > 0, "the order's spans", timeout=60
        )
    return order_id, str(spans[0]["traceId"])


async def _log_in(page: Any, gateway: GatewayUnderTest, user: str, target: str) -> None:
    await page.goto(f"{gateway.url}/auth/login?next={target}")
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")


async def test_support_logs_in_and_finds_the_order_in_zipkin(
    gateway: GatewayUnderTest, chromium: Any, traced_order: tuple[str, str], artifacts: Path
) -> None:
    order_id, trace_id = traced_order
    context = await chromium.new_context()
    page = await context.new_page()
    try:
        await page.goto(f"{gateway.url}/zipkin/")
        assert "Not logged in" in await page.content()
        await page.click("#login")
        await page.fill("input[name=username]", "sue")
        await page.fill("input[name=password]", PASSWORD)
        await page.screenshot(path=artifacts / "gateway-login.png")
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{gateway.url}/zipkin/")
        # The Zipkin UI, served through the gateway, searching by the order's id.
        await page.goto(
            f"{gateway.url}/zipkin/?tagQuery=order.id%3D{order_id}&lookback=1d&limit=10"
        )
        await page.get_by_role("button", name="Run query").click()
        await page.get_by_text("shop-api").first.wait_for(timeout=30_000)
        await page.screenshot(path=artifacts / "gateway-zipkin-search.png", full_page=True)
        await page.goto(f"{gateway.url}/zipkin/traces/{trace_id}")
        await page.get_by_text(order_id).first.wait_for(timeout=30_000)
        await page.screenshot(path=artifacts / "gateway-zipkin-trace.png", full_page=True)
        await page.goto(f"{gateway.url}/orders/{order_id}")
        assert order_id in await page.locator("#order-id").inner_text()
        await page.screenshot(path=artifacts / "gateway-order-journey.png", full_page=True)
        # The journey's link searches Zipkin over the order's lifetime.
        await page.click("#zipkin-search")
        await page.get_by_role("button", name="Run query").click()
        await page.get_by_text("shop-api").first.wait_for(timeout=30_000)
        cookies = {cookie["name"]: cookie for cookie in await context.cookies()}
        session = cookies["__Host-alexandrite-session"]
        assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"
    finally:
        await context.close()
    rows = await gateway.audit_rows()
    searches = [row for row in rows if row["actor"] == "sue" and row["order_id"] == order_id]
    assert searches, "the search by order id is in the audit log"


async def test_a_user_without_the_support_role_sees_the_403_page(
    gateway: GatewayUnderTest, chromium: Any, artifacts: Path
) -> None:
    context = await chromium.new_context()
    page = await context.new_page()
    try:
        await _log_in(page, gateway, "max", "/zipkin/")
        await page.wait_for_url(f"{gateway.url}/zipkin/")
        denied = page.locator("#denied")
        assert "403" in await denied.inner_text()
        assert "Access refused" in await page.title()
        await page.screenshot(path=artifacts / "gateway-403.png", full_page=True)
    finally:
        await context.close()
    rows = await gateway.audit_rows()
    assert any(
        row["actor"] == "max" and row["status_code"] == 403 and row["result"] == "denied"
        for row in rows
    )
