"""Every event the real producers write to their outboxes matches its contract
(alexandrite.common.contracts), and every event of the contract is produced by some flow."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from alexandrite.common import contracts
from alexandrite.common.messaging.event import Event
from alexandrite.common.service import ServiceRuntime
from tests.integration.conftest import Platform
from tests.integration.flow import (
    place_order,
    submit,
    wait_for_crm_status,
    wait_for_job,
    wait_for_shop_status,
)

pytestmark = pytest.mark.integration

ENDED = {"complete": "completed", "fail": "failed"}


async def _ended_in_production(client: httpx.AsyncClient, platform: Platform, ending: str) -> None:
    order_id = await place_order(client, platform)
    await submit(client, platform, order_id)
    await wait_for_crm_status(client, platform, order_id, "in_review")
    approved = await client.post(f"{platform.crm.url}/api/v1/orders/{order_id}/approve")
    assert approved.status_code == 200, approved.text
    job = await wait_for_job(client, platform, order_id)
    started = await client.post(f"{platform.mes.url}/api/v1/jobs/{job['id']}/start")
    assert started.status_code == 200, started.text
    body = {"reason": "filament runout"} if ending == "fail" else None
    ended = await client.post(f"{platform.mes.url}/api/v1/jobs/{job['id']}/{ending}", json=body)
    assert ended.status_code == 200, ended.text
    await wait_for_shop_status(client, platform, order_id, ENDED[ending])


async def _outbox_events(runtime: ServiceRuntime) -> list[Event]:
    query = text("SELECT id, routing_key, source, order_id, data FROM outbox")
    async with runtime.database.sessions() as session:
        rows = (await session.execute(query)).mappings().all()
    return [
        Event(
            id=row["id"],
            routing_key=row["routing_key"],
            source=row["source"],
            order_id=row["order_id"],
            data=row["data"],
        )
        for row in rows
    ]


async def test_every_event_the_services_publish_matches_its_contract(platform: Platform) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        await _ended_in_production(client, platform, "complete")
        await _ended_in_production(client, platform, "fail")
        rejected_id = await place_order(client, platform)
        await submit(client, platform, rejected_id)
        await wait_for_crm_status(client, platform, rejected_id, "in_review")
        await client.post(
            f"{platform.crm.url}/api/v1/orders/{rejected_id}/reject", json={"reason": "too thin"}
        )
        await wait_for_shop_status(client, platform, rejected_id, "rejected")
        cancelled_id = await place_order(client, platform)
        await client.post(f"{platform.shop.url}/api/v1/orders/{cancelled_id}/cancel")
        await wait_for_shop_status(client, platform, cancelled_id, "cancelled")

    seen: set[str] = set()
    for service in (platform.shop, platform.crm, platform.mes):
        for event in await _outbox_events(service.app.state.runtime):
            contract = contracts.CONTRACTS[event.routing_key]
            payload = contracts.parse(event, contract)
            # The order id lives in the envelope only.
            assert "order_id" not in event.data, event
            assert payload.order_id == event.order_id
            seen.add(event.routing_key)
    assert seen == set(contracts.CONTRACTS)
