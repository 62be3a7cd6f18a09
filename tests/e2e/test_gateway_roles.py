"""Only the support role gets through the gateway to the traces, and every attempt is audited.

A gateway runs in the test (its own database) in front of the running stack's Zipkin and Shop
API, so the allowed requests really reach Zipkin and the journey reads a real order.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio

from alexandrite.cli.demo import DEMO_ROTATION, place_order, wait_terminal
from alexandrite.common import platform
from alexandrite.files.samples import sample_bytes
from alexandrite.gateway.principal import ADMIN, SUPPORT
from tests.e2e.zipkin import named, wait_for_order_spans
from tests.support.gateway import GatewayUnderTest, running_gateway

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SHOP = platform.SHOP.url


@dataclass(frozen=True)
class Order:
    id: str
    status: str
    trace_id: str
    step_trace_ids: tuple[str, ...] = ()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def order() -> Order:
    samples = {kind: sample_bytes(kind) for kind in set(DEMO_ROTATION)}
    async with httpx.AsyncClient(timeout=60) as client:
        order_id = await place_order(client, SHOP, 0, samples)
        finished = await wait_terminal(client, SHOP, order_id, time.monotonic() + 180)
        spans = await wait_for_order_spans(
            client,
            order_id,
            lambda found: named(found, "order.lifecycle"),
            "the order's lifecycle in Zipkin",
            timeout=60,
        )
    lifecycle = named(spans, "order.lifecycle")[0]
    steps = tuple(str(lifecycle.get("tags", {}).get("order.step_trace_ids", "")).split(","))
    return Order(
        id=order_id,
        status=finished["status"],
        trace_id=lifecycle["traceId"],
        step_trace_ids=tuple(step for step in steps if step),
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def gateway() -> AsyncIterator[GatewayUnderTest]:
    async with running_gateway("roles_test") as running:
        yield running


def _routes(order: Order) -> list[str]:
    """Every way to the traces: the UI, its API (search, a trace), the journey (JSON, page)."""
    return [
        "/zipkin/",
        "/zipkin/config.json",
        "/zipkin/api/v2/services",
        f"/zipkin/api/v2/traces?annotationQuery=order.id%3D{order.id}&lookback=86400000",
        f"/zipkin/api/v2/trace/{order.trace_id}",
        f"/api/v1/orders/{order.id}/journey",
        f"/orders/{order.id}",
    ]


async def _principals(gateway: GatewayUnderTest) -> dict[str, tuple[dict[str, str], int, str]]:
    """name -> (headers, expected status, expected audited actor)."""
    await gateway.add_user("sam", SUPPORT)
    await gateway.add_user("ann", ADMIN)
    await gateway.add_user("both", ADMIN, SUPPORT)
    await gateway.add_user("dis", SUPPORT)
    await gateway.add_user("gone", SUPPORT)
    await gateway.add_user("old", SUPPORT)
    await gateway.add_user("rev", SUPPORT)
    async with gateway.client() as client:
        sam_cookie = await gateway.login(client, "sam")
    async with gateway.client() as client:
        ann_cookie = await gateway.login(client, "ann")
    async with gateway.client() as client:
        dis_cookie = await gateway.login(client, "dis")
    tokens = {
        name: await gateway.token(name)
        for name in ("sam", "ann", "both", "dis", "gone", "old", "rev")
    }
    await gateway.accounts.set_disabled("dis", True)
    await gateway.accounts.delete_user("gone")
    [(revoked, _)] = await gateway.accounts.list_tokens("rev")
    await gateway.accounts.revoke_token(revoked.id)
    owner = await gateway.owner()
    try:
        await owner.execute(
            "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE user_id ="
            " (SELECT id FROM users WHERE name = 'old')"
        )
    finally:
        await owner.close()

    def bearer(token: str) -> dict[str, str]:
        return {"authorization": f"Bearer {token}"}

    def cookie(value: str) -> dict[str, str]:
        return {"cookie": f"__Host-alexandrite-session={value}"}

    forged = "alx_" + "A" * 43
    return {
        "anonymous": ({}, 401, ""),
        "support session": (cookie(sam_cookie), 200, "sam"),
        "support token": (bearer(tokens["sam"]), 200, "sam"),
        "admin session": (cookie(ann_cookie), 403, "ann"),
        "admin token": (bearer(tokens["ann"]), 403, "ann"),
        "admin and support token": (bearer(tokens["both"]), 200, "both"),
        "disabled user's session": (cookie(dis_cookie), 401, ""),
        "disabled user's token": (bearer(tokens["dis"]), 401, "dis"),
        "deleted user's token": (bearer(tokens["gone"]), 401, ""),
        "expired token": (bearer(tokens["old"]), 401, "old"),
        "revoked token": (bearer(tokens["rev"]), 401, "rev"),
        "forged token": (bearer(forged), 401, ""),
        "forged session cookie": (cookie("not-a-session"), 401, ""),
        "basic credentials": ({"authorization": "Basic c2FtOnNhbQ=="}, 401, ""),
    }


async def test_only_support_passes_every_tracing_route_and_every_attempt_is_audited(
    gateway: GatewayUnderTest, order: Order
) -> None:
    principals = await _principals(gateway)
    before = await gateway.last_seq()
    outcomes: dict[tuple[str, str], int] = {}
    expected: list[tuple[str, str, int, str]] = []
    async with gateway.client(headers={"user-agent": "role-matrix"}) as client:
        for name, (headers, status, actor) in principals.items():
            for route in _routes(order):
                response = await client.get(route, headers=headers)
                outcomes[(name, route)] = response.status_code
                expected.append((route, name, status, actor))
                if status == 200 and route.startswith("/zipkin/api/"):
                    assert response.headers["content-type"].startswith("application/json")
                if status in (401, 403):
                    assert response.headers["content-type"] == "application/problem+json"
    wrong = {key: code for key, code in outcomes.items() if code != principals[key[0]][1]}
    assert not wrong, f"unexpected statuses: {wrong}"
    rows = await gateway.audit_rows(before)
    assert len(rows) == len(expected)
    for row, (route, name, status, actor) in zip(rows, expected, strict=True):
        assert row["path"] == route, name
        assert row["status_code"] == status, (name, route)
        assert row["result"] == {200: "allowed", 401: "denied", 403: "denied"}[status]
        assert (row["actor"] or "") == actor, (name, route, row)
        assert row["client"] == "127.0.0.1" and row["user_agent"] == "role-matrix"
        if order.id in route:
            assert row["order_id"] == order.id
        if order.trace_id in route:
            assert row["trace_id"] == order.trace_id
    assert (await gateway.audit.verify()).ok


def _support(gateway: GatewayUnderTest, token: str) -> httpx.AsyncClient:
    return gateway.client(headers={"authorization": f"Bearer {token}"})


async def test_the_journey_gathers_the_orders_history_and_traces(
    gateway: GatewayUnderTest, order: Order
) -> None:
    await gateway.add_user("jo", SUPPORT)
    async with _support(gateway, await gateway.token("jo")) as client:
        response = await client.get(f"/api/v1/orders/{order.id}/journey")
        page = await client.get(f"/orders/{order.id}", headers={"accept": "text/html"})
    assert response.status_code == 200
    journey: dict[str, Any] = response.json()
    assert journey["status"] == order.status and journey["terminal"]
    assert [step["status"] for step in journey["steps"]][:2] == ["created", "submitted"]
    assert all(step["duration_s"] >= 0 for step in journey["steps"])
    assert {"shop-api", "crm-api", "file-storage"} <= set(journey["services"])
    assert journey["span_count"] >= len(journey["traces"]) > 1
    # The journey fetches the traces of the order's steps by id (the lifecycle span names them).
    assert order.step_trace_ids and set(order.step_trace_ids) <= set(journey["trace_ids"])
    assert all(t["zipkin_url"] == f"/zipkin/traces/{t['trace_id']}" for t in journey["traces"])
    if order.status == "failed":
        assert journey["error_count"] > 0
    assert page.status_code == 200 and order.id in page.text
    assert page.headers["cache-control"] == "no-store"


async def test_an_unknown_order_is_a_404_problem(gateway: GatewayUnderTest) -> None:
    await gateway.add_user("kim", SUPPORT)
    async with _support(gateway, await gateway.token("kim")) as client:
        response = await client.get("/api/v1/orders/7f3c0000-0000-4000-8000-000000000000/journey")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_proxy_is_read_only(gateway: GatewayUnderTest) -> None:
    await gateway.add_user("lee", SUPPORT)
    async with _support(gateway, await gateway.token("lee")) as client:
        response = await client.post("/zipkin/api/v2/spans", content=b"[]")
    assert response.status_code == 405
