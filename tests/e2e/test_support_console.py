"""The support console against the running stack: journeys of a completed, a failed, a rejected
and a stalled order say the right verdict with the real reason and the live queue state; the
lists hold them; every view is audited; with Zipkin unreachable the journey still answers.

Faults are switched on the stack itself (``consumer_paused=mes``, ``mes_failure_rate``) and the
previous faults are put back afterwards. The gateway under test runs the ``test`` alert profile
(30 s limits), so an order is stalled within a minute.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import aio_pika
import httpx
import pytest
import pytest_asyncio

from alexandrite.cli.demo import DEMO_ROTATION, place_order, wait_terminal
from alexandrite.cli.faults import DEFAULT_AMQP_URL
from alexandrite.common import contracts, platform
from alexandrite.common.faults import FaultValue, read_faults_file, write_faults_file
from alexandrite.common.settings import default_faults_file
from alexandrite.files.samples import sample_bytes
from alexandrite.gateway.principal import ADMIN, SUPPORT
from tests.support.gateway import GatewayUnderTest, running_gateway
from tests.support.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SHOP = platform.SHOP.url
OPEN_CUP = DEMO_ROTATION.index(DEMO_ROTATION[-1])  # not watertight: the CRM rejects it
CUBE = 0


@contextlib.contextmanager
def faults_on(**faults: FaultValue) -> Iterator[None]:
    path = default_faults_file()
    before = read_faults_file(path)
    write_faults_file(path, before | faults)
    try:
        yield
    finally:
        write_faults_file(path, before)


async def _consumers(queue: str) -> int:
    """The queue's consumers as the broker counts them now (a passive declare answers from the
    queue itself; the management API's figure can be seconds old)."""
    connection = await aio_pika.connect_robust(DEFAULT_AMQP_URL)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.consumer_count or 0)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def mes_consumer_paused() -> AsyncIterator[None]:
    """``consumer_paused=mes`` in effect: the MES has let go of ``mes.events`` on entry, and
    consumes again on exit. Writing the fault is not enough: each service looks at the faults
    file about every half second, and an order reaches the MES within a few hundred ms of its
    submit, so an order placed at once is often consumed before the pause (then never stalls)."""
    with faults_on(consumer_paused="mes"):

        async def paused() -> bool:
            return await _consumers(contracts.MES_QUEUE) == 0

        await eventually(paused, timeout=30, what="the MES consumer to let go of mes.events")
        yield

    async def resumed() -> bool:
        return await _consumers(contracts.MES_QUEUE) > 0

    await eventually(resumed, timeout=30, what="the MES consumer to take mes.events again")


async def _order(index: int, **faults: FaultValue) -> dict[str, Any]:
    samples = {kind: sample_bytes(kind) for kind in set(DEMO_ROTATION)}
    with faults_on(**faults):
        async with httpx.AsyncClient(timeout=60) as client:
            order_id = await place_order(client, SHOP, index, samples)
            return await wait_terminal(client, SHOP, order_id, time.monotonic() + 180)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def gateway() -> AsyncIterator[GatewayUnderTest]:
    async with running_gateway("console_test", alert_profile="test") as running:
        await running.add_user("sam", SUPPORT)
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def support(gateway: GatewayUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    token = await gateway.token("sam")
    async with gateway.client(headers={"authorization": f"Bearer {token}"}) as client:
        yield client


async def _journey_when(
    client: httpx.AsyncClient, order_id: str, ready: Any, what: str, timeout: float = 90
) -> dict[str, Any]:
    """The journey once ``ready(journey)`` holds (spans reach Zipkin a few seconds late)."""

    async def probe() -> dict[str, Any] | None:
        response = await client.get(f"/api/v1/orders/{order_id}/journey")
        assert response.status_code == 200, response.text
        journey: dict[str, Any] = response.json()
        return journey if ready(journey) else None

    return await eventually(probe, timeout=timeout, what=what)


def _lifecycle_sums(journey: dict[str, Any]) -> None:
    total = sum(status["duration_s"] for status in journey["statuses"])
    assert abs(total - journey["lifecycle_s"]) < 0.01
    entered = [datetime.fromisoformat(s["entered_at"]) for s in journey["statuses"]]
    assert entered == sorted(entered)


async def test_a_completed_order_says_how_long_it_took_and_its_steps_sum_to_it(
    support: httpx.AsyncClient,
) -> None:
    order = await _order(CUBE, mes_failure_rate=0.0)
    assert order["status"] == "completed"
    journey = await _journey_when(
        support,
        order["id"],
        lambda j: j["hops"] and j["model"] and j["model"]["upload_s"],
        "the completed order's traces in Zipkin",
    )
    verdict = journey["verdict"]
    assert verdict["state"] == "completed" and verdict["summary"].startswith("Completed in ")
    assert verdict["reason"] is None and verdict["waiting_on"] is None
    _lifecycle_sums(journey)
    assert {"order.submitted", "order.approved"} <= {hop["routing_key"] for hop in journey["hops"]}
    submitted = next(h for h in journey["hops"] if h["routing_key"] == "order.submitted")
    assert submitted["exchange"] == "alexandrite.events"
    assert any(c["service"] == "crm-api" and c["wait_s"] >= 0 for c in submitted["consumers"])
    assert journey["model"]["triangles"] > 0
    # The journey reads business spans only: no database statement is among them.
    names = [span["name"] for span in journey["timeline_spans"]]
    assert not [name for name in names if name.split(" ")[0].lower() in {"select", "insert"}]


async def test_a_failed_print_shows_the_printers_reason_and_links_the_failing_span(
    support: httpx.AsyncClient,
) -> None:
    order = await _order(CUBE, mes_failure_rate=1.0)
    assert order["status"] == "failed"
    journey = await _journey_when(
        support,
        order["id"],
        lambda j: j["verdict"]["step"] is not None,
        "the failing span in Zipkin",
    )
    verdict = journey["verdict"]
    assert verdict["state"] == "failed"
    assert verdict["reason"] == order["reason"] and verdict["reason"]
    assert verdict["summary"].startswith("Failed in production at ")
    assert f": {order['reason']} (mes-api, span " in verdict["summary"]
    step = verdict["step"]
    assert step["service"] == "mes-api" and len(step["span_id"]) == 16
    assert any(
        e["error"] == order["reason"] and e["service"] == "mes-api" for e in journey["errors"]
    )
    _lifecycle_sums(journey)
    page = await support.get(f"/orders/{order['id']}", headers={"accept": "text/html"})
    assert order["reason"] in page.text and "True" not in page.text and "None" not in page.text
    assert f"/traces/{step['trace_id']}/spans/{step['span_id']}" in page.text
    failed = (await support.get("/api/v1/orders", params={"view": "failed"})).json()
    row = next(r for r in failed if r["order_id"] == order["id"])
    assert row["reason"] == order["reason"] and row["journey_url"] == f"/orders/{order['id']}"


async def test_a_rejected_order_says_why_the_crm_refused_it(support: httpx.AsyncClient) -> None:
    order = await _order(OPEN_CUP)
    assert order["status"] == "rejected"
    journey = (await support.get(f"/api/v1/orders/{order['id']}/journey")).json()
    verdict = journey["verdict"]
    assert verdict["state"] == "rejected" and verdict["reason"] == order["reason"]
    assert verdict["summary"].startswith("Rejected in review at ")
    assert order["reason"] in verdict["summary"]
    _lifecycle_sums(journey)


async def test_an_order_held_by_a_paused_consumer_is_stalled_on_its_queue(
    support: httpx.AsyncClient, gateway: GatewayUnderTest
) -> None:
    samples = {kind: sample_bytes(kind) for kind in set(DEMO_ROTATION)}
    async with mes_consumer_paused():
        async with httpx.AsyncClient(timeout=60) as client:
            order_id = await place_order(client, SHOP, CUBE, samples)
        journey = await _journey_when(
            support,
            order_id,
            lambda j: j["verdict"]["state"] == "stalled",
            "the order to pass the approved limit (30 s, test profile)",
            timeout=150,
        )
        lists = (await support.get("/api/v1/orders", params={"view": "stalled"})).json()
    verdict = journey["verdict"]
    assert verdict["status"] == "approved" and verdict["limit_s"] == 30
    assert verdict["in_status_s"] > 30
    waiting = verdict["waiting_on"]
    assert waiting["service"] == "mes-api" and waiting["queue"] == "mes.events"
    assert waiting["consumers"] == 0 and waiting["ready"] >= 1
    assert "STALLED" in verdict["summary"] and "`mes.events`" in verdict["summary"]
    assert "0 consumers" in verdict["summary"]
    assert order_id in {row["order_id"] for row in lists}
    rows = await gateway.audit_rows()
    assert any(
        r["order_id"] == order_id and r["actor"] == "sam" and r["result"] == "allowed" for r in rows
    )
    assert any(r["path"] == "/api/v1/orders?view=stalled" and r["actor"] == "sam" for r in rows)


async def test_a_span_page_answers_bad_ids_unknown_spans_and_other_roles_with_a_problem(
    support: httpx.AsyncClient, gateway: GatewayUnderTest
) -> None:
    html = {"accept": "text/html"}
    unknown_trace = "0123456789abcdef" * 2
    bad = await support.get("/traces/not-hex/spans/0123456789abcdef", headers=html)
    zero = await support.get(f"/traces/{'0' * 32}/spans/0123456789abcdef", headers=html)
    unknown = await support.get(f"/traces/{unknown_trace}/spans/0123456789abcdef", headers=html)
    assert (bad.status_code, zero.status_code, unknown.status_code) == (400, 400, 404)
    assert "16 or 32 hex digits" in bad.text and "no span 0123456789abcdef" in unknown.text
    await gateway.add_user("ada", ADMIN)
    token = await gateway.token("ada")
    async with gateway.client(headers={"authorization": f"Bearer {token}"}) as admin:
        refused = await admin.get(f"/traces/{unknown_trace}/spans/0123456789abcdef", headers=html)
    assert refused.status_code == 403
    rows = await gateway.audit_rows()
    spans = [r for r in rows if r["path"].startswith("/traces/")]
    assert {r["actor"] for r in spans} == {"sam", "ada"} and {r["action"] for r in spans} == {
        "span"
    }
    assert any(r["trace_id"] == unknown_trace and r["actor"] == "sam" for r in spans)
    assert {r["result"] for r in spans if r["actor"] == "ada"} == {"denied"}


async def test_with_zipkin_unreachable_the_journey_still_shows_the_status_history() -> None:
    order = await _order(OPEN_CUP)
    async with running_gateway("console_nozipkin", zipkin_url="http://127.0.0.1:9") as gateway:
        await gateway.add_user("ana", SUPPORT)
        token = await gateway.token("ana")
        async with gateway.client(headers={"authorization": f"Bearer {token}"}) as client:
            response = await client.get(f"/api/v1/orders/{order['id']}/journey")
            page = await client.get(f"/orders/{order['id']}", headers={"accept": "text/html"})
    assert response.status_code == 200 and page.status_code == 200
    journey = response.json()
    assert not journey["traces_available"] and "unavailable" in journey["traces_note"]
    assert [s["status"] for s in journey["statuses"]][-1] == "rejected"
    assert journey["verdict"]["state"] == "rejected"
    assert "traces are unavailable" in page.text
